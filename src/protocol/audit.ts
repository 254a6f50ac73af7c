import { z } from 'zod';

export const AuditEntrySchema = z.object({
  seq: z.number().int(),
  time: z.number().int(),
  actor: z.string(),
  action: z.string(),
  resource: z.string(),
  decision: z.enum(['allow', 'deny', 'none']),
  source: z.string(),
  requestId: z.string(),
  outcome: z.enum(['success', 'failure', 'error']),
  details: z.record(z.string(), z.unknown()),
  prevHash: z.string(),
  hash: z.string(),
});
export type AuditEntryView = z.infer<typeof AuditEntrySchema>;

export const AuditListQuerySchema = z.object({
  actor: z.string().max(1024).optional(),
  action: z.string().max(1024).optional(),
  /** Milliseconds since the epoch, inclusive. */
  since: z.coerce.number().int().nonnegative().optional(),
  /** Milliseconds since the epoch, exclusive. */
  until: z.coerce.number().int().nonnegative().optional(),
  /** Entries after this seq, oldest first; without it, the newest `limit` entries. */
  after: z.coerce.number().int().nonnegative().optional(),
  limit: z.coerce.number().int().positive().max(1000).default(100),
});
export type AuditListQuery = z.infer<typeof AuditListQuerySchema>;

export const AuditListSchema = z.object({ entries: z.array(AuditEntrySchema) });

export const TAMPER_KINDS = ['modified', 'deleted', 'inserted', 'reordered', 'truncated', 'bad-checkpoint'] as const;

export const AuditVerifySchema = z.discriminatedUnion('ok', [
  z.object({
    ok: z.literal(true),
    entries: z.number().int(),
    checkpoints: z.number().int(),
    lastSeq: z.number().int(),
    keyId: z.string(),
  }),
  z.object({
    ok: z.literal(false),
    firstBad: z.object({ seq: z.number().int(), kind: z.enum(TAMPER_KINDS), message: z.string() }),
    keyId: z.string(),
  }),
]);
export type AuditVerifyView = z.infer<typeof AuditVerifySchema>;

export const AUDIT_EXPORT_FORMATS = ['jsonl', 'cef'] as const;
export const AuditExportQuerySchema = z.object({ format: z.enum(AUDIT_EXPORT_FORMATS).default('jsonl') });
