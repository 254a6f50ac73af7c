import { z } from 'zod';

/** Limits of the secrets store, shared by the server, the engine and the CLI. */
export const SECRET_LIMITS = {
  /** Characters of a path (ASCII only). */
  maxPathLength: 256,
  /** Bytes of one value, before base64. */
  maxValueBytes: 64 * 1024,
  defaultMaxVersions: 10,
  minMaxVersions: 1,
  maxMaxVersions: 100,
} as const;

/** Base64 characters of the largest value, with a little room so the server, not the schema, says what is wrong. */
const VALUE_FIELD_LIMIT = Math.ceil(SECRET_LIMITS.maxValueBytes / 3) * 4 + 16;

/** The secret path travels as the rest of the URL (`/v1/secrets/data/app/db-password`); the route checks it. */
export const SecretPathParamsSchema = z.object({ '*': z.string() });

export const SecretListQuerySchema = z.object({
  /** Only paths starting with this text (a plain prefix: `app/` lists everything below app). */
  prefix: z.string().max(SECRET_LIMITS.maxPathLength).optional(),
});

export const SecretPutBodySchema = z.strictObject({
  /** The value, standard base64 (binary-safe). */
  value: z.string().max(VALUE_FIELD_LIMIT, `the value is larger than ${SECRET_LIMITS.maxValueBytes} bytes (64 KiB), the most accepted`),
  /** How many versions the secret keeps from now on (older ones are destroyed); default 10, or what it kept so far. */
  maxVersions: z.number().int().min(SECRET_LIMITS.minMaxVersions).max(SECRET_LIMITS.maxMaxVersions).optional(),
});
export type SecretPutBody = z.infer<typeof SecretPutBodySchema>;

const VersionNumberSchema = z.coerce.number().int().positive().max(2 ** 31 - 1);

export const SecretReadQuerySchema = z.object({ version: VersionNumberSchema.optional() });

export const SecretDeleteQuerySchema = z.object({
  version: VersionNumberSchema.optional(),
  /** `true` erases the stored value for good instead of marking the version deleted. */
  destroy: z.enum(['true', 'false']).default('false'),
});

export const SecretRollbackBodySchema = z.strictObject({ version: z.number().int().positive().max(2 ** 31 - 1) });

export const SECRET_VERSION_STATES = ['live', 'deleted', 'destroyed'] as const;

export const SecretVersionSchema = z.object({
  version: z.number().int(),
  state: z.enum(SECRET_VERSION_STATES),
  createdBy: z.string(),
  createdAt: z.number().int(),
  deletedAt: z.number().int().nullable(),
  destroyedAt: z.number().int().nullable(),
});
export type SecretVersionView = z.infer<typeof SecretVersionSchema>;

export const SecretSummarySchema = z.object({
  path: z.string(),
  currentVersion: z.number().int(),
  /** The state of the current version: a secret whose current version is deleted reads as missing. */
  state: z.enum(SECRET_VERSION_STATES),
  maxVersions: z.number().int(),
  createdAt: z.number().int(),
  updatedAt: z.number().int(),
});
export type SecretSummaryView = z.infer<typeof SecretSummarySchema>;

export const SecretListSchema = z.object({ secrets: z.array(SecretSummarySchema) });

export const SecretVersionsSchema = z.object({ secret: SecretSummarySchema, versions: z.array(SecretVersionSchema) });

export const SecretValueSchema = z.object({
  path: z.string(),
  version: z.number().int(),
  /** Standard base64 of the value's bytes. */
  value: z.string(),
  createdBy: z.string(),
  createdAt: z.number().int(),
});

export const SecretWrittenSchema = z.object({
  path: z.string(),
  version: z.number().int(),
  maxVersions: z.number().int(),
  /** Versions removed because the secret keeps only `maxVersions`. */
  removedVersions: z.array(z.number().int()),
});

export const SecretRemovedSchema = z.object({
  path: z.string(),
  version: SecretVersionSchema,
  /** False when the version was already deleted (or destroyed, for a destroy). */
  changed: z.boolean(),
});
