import { z } from 'zod';

export const SEAL_METHODS = ['file', 'passphrase', 'shamir'] as const;

export const SealStatusSchema = z.object({
  sealed: z.boolean(),
  method: z.enum(SEAL_METHODS),
  /** Shares given so far (shamir, while sealed). */
  progress: z.number().int(),
  /** Shares needed (1 for the other methods). */
  threshold: z.number().int(),
  /** Shares in the set (shamir). */
  shares: z.number().int().optional(),
});
export type SealStatus = z.infer<typeof SealStatusSchema>;

export const UnsealRequestSchema = z
  .object({
    passphrase: z.string().min(1).max(1024).optional(),
    share: z.string().min(1).max(1024).optional(),
    /** Forget the shares given so far. */
    reset: z.boolean().optional(),
  })
  .strict();

export const KeyVersionSchema = z.object({
  version: z.number().int(),
  state: z.enum(['active', 'decrypt-only', 'retired']),
  encryptions: z.number().int(),
  createdAt: z.number().int(),
  retiredAt: z.number().int().nullable(),
});

export const KeyringStatusSchema = z.object({
  method: z.enum(SEAL_METHODS),
  shares: z.object({ setId: z.string(), count: z.number().int(), threshold: z.number().int() }).optional(),
  activeVersion: z.number().int(),
  maxEncryptionsPerKey: z.number().int(),
  versions: z.array(KeyVersionSchema),
  rewrap: z
    .object({
      target: z.number().int(),
      total: z.number().int(),
      done: z.number().int(),
      startedAt: z.number().int(),
      finishedAt: z.number().int().nullable(),
      running: z.boolean(),
    })
    .nullable(),
});
export type KeyringStatus = z.infer<typeof KeyringStatusSchema>;

export const RotatedSchema = z.object({ version: z.number().int() });

export const RekeyRequestSchema = z
  .object({
    method: z.enum(SEAL_METHODS),
    passphrase: z.string().min(12).max(1024).optional(),
    shares: z.number().int().min(1).max(255).optional(),
    threshold: z.number().int().min(1).max(255).optional(),
  })
  .strict()
  .superRefine((v, ctx) => {
    if (v.method === 'passphrase' && v.passphrase === undefined) ctx.addIssue({ code: 'custom', message: 'a passphrase rekey needs `passphrase`' });
    if (v.method === 'shamir' && (v.shares === undefined || v.threshold === undefined)) ctx.addIssue({ code: 'custom', message: 'a shamir rekey needs `shares` and `threshold`' });
    if (v.shares !== undefined && v.threshold !== undefined && v.threshold > v.shares) ctx.addIssue({ code: 'custom', message: 'the threshold cannot exceed the number of shares' });
  });
export type RekeyRequest = z.infer<typeof RekeyRequestSchema>;

export const RekeyedSchema = z.object({
  method: z.enum(SEAL_METHODS),
  /** The new shares, shown once (shamir). */
  shares: z.array(z.string()).optional(),
});
