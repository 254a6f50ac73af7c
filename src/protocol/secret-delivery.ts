import { z } from 'zod';

/**
 * Limits of secret delivery. Every field of every message is bounded: a node is
 * semi-trusted, and the server must not trust what it sends any more than the
 * node trusts what arrives.
 */
export const SECRET_DELIVERY_LIMITS = {
  /** Deliveries one node may hold; the server refuses a delivery that would push a node past it. */
  maxItemsPerNode: 1000,
  /** Active deliveries in the cluster. */
  maxDeliveries: 10_000,
  /** Bytes of one delivered value (before base64). */
  maxValueBytes: 64 * 1024,
  maxPathLength: 256,
  maxDestLength: 4096,
  maxDestComponentLength: 255,
  maxErrorLength: 1024,
  maxSelectorLength: 1024,
} as const;

/** Base64 characters of the largest value. */
const MAX_VALUE_BASE64 = Math.ceil(SECRET_DELIVERY_LIMITS.maxValueBytes / 3) * 4;

/** A secret's path in the store: segments of letters, digits, `.`, `_`, `-` joined by single slashes, none `.` or `..` (`app/db-password`). */
export const SECRET_PATH_PATTERN = /^(?!\.{1,2}(?:\/|$))(?:[A-Za-z0-9._-]+)(?:\/(?!\.{1,2}(?:\/|$))[A-Za-z0-9._-]+)*$/;
/** A user or group on the node: a POSIX-ish name, or a numeric id. */
export const ACCOUNT_NAME_PATTERN = /^(?:[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?|[0-9]{1,10})$/;
export const DELIVERY_ID_PATTERN = /^sdl_[a-z2-7]{16}$/;

export const SecretPathSchema = z
  .string()
  .min(1)
  .max(SECRET_DELIVERY_LIMITS.maxPathLength)
  .regex(SECRET_PATH_PATTERN, 'a secret path is segments of letters, digits, ".", "_" and "-" joined by single slashes (no "." or ".." segment), e.g. app/db-password');
export const DeliveryIdSchema = z.string().regex(DELIVERY_ID_PATTERN, 'a delivery id looks like sdl_ followed by 16 characters');
export const AccountNameSchema = z.string().regex(ACCOUNT_NAME_PATTERN, 'a user or group is a name (letters, digits, ".", "_", "-", at most 32) or a numeric id');
/** sha256 of a value, lower-case hex. */
export const Sha256Schema = z.string().regex(/^[0-9a-f]{64}$/);

/** Why a destination is not a plain absolute path, or undefined when it is one. */
export function destinationProblem(dest: string): string | undefined {
  if (!dest.startsWith('/')) return 'must be an absolute path';
  if (dest.includes('\0')) return 'must not contain NUL';
  if (dest === '/' || dest.endsWith('/')) return 'must name a file, not a directory';
  const parts = dest.slice(1).split('/');
  if (parts.some((part) => part === '' || part === '.' || part === '..')) return 'must be normalised (no "//", "." or ".." components)';
  if (parts.some((part) => part.length > SECRET_DELIVERY_LIMITS.maxDestComponentLength)) return 'has a component longer than 255 characters';
  return undefined;
}

/** An absolute, normalised file path: the same check on both sides of the channel. */
export const DestinationSchema = z
  .string()
  .min(2)
  .max(SECRET_DELIVERY_LIMITS.maxDestLength)
  .superRefine((dest, ctx) => {
    const problem = destinationProblem(dest);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: `destination ${problem}` });
  });

/**
 * File modes a secret may get: permission bits only (no setuid, setgid or sticky
 * bit), never writable by others.
 */
export const FileModeSchema = z
  .number()
  .int()
  .min(0)
  .max(0o777)
  .refine((mode) => (mode & 0o002) === 0, 'a secret must not be writable by others');

/** `0400` → 256; undefined for anything but 3 or 4 octal digits. */
export function parseFileMode(text: string): number | undefined {
  if (!/^0?[0-7]{3}$/.test(text)) return undefined;
  return Number.parseInt(text, 8);
}

/** 256 → `0400`. */
export function formatFileMode(mode: number): string {
  return `0${mode.toString(8).padStart(3, '0')}`;
}

export const SECRET_DELIVERY_STATES = ['delivered', 'removed', 'error', 'pending'] as const;
export type SecretDeliveryState = (typeof SECRET_DELIVERY_STATES)[number];

// ---------------------------------------------------------------------------
// Agent channel

export const ManifestItemSchema = z.object({
  deliveryId: DeliveryIdSchema,
  path: SecretPathSchema,
  version: z.number().int().positive(),
  dest: DestinationSchema,
  mode: FileModeSchema,
  owner: AccountNameSchema.optional(),
  group: AccountNameSchema.optional(),
  /** sha256 of the value: the agent checks what it fetched, and whether its file is still current, against it. */
  sha256: Sha256Schema,
});
export type ManifestItem = z.infer<typeof ManifestItemSchema>;

/** Server → agent: everything the node should hold now. Whatever the agent wrote that is not listed is removed. */
export const SecretsManifestSchema = z.object({
  type: z.literal('secrets_manifest'),
  items: z
    .array(ManifestItemSchema)
    .max(SECRET_DELIVERY_LIMITS.maxItemsPerNode)
    .refine((items) => new Set(items.map((i) => i.deliveryId)).size === items.length, 'delivery ids must be unique'),
});
export type SecretsManifest = z.infer<typeof SecretsManifestSchema>;

/** Agent → server: the value of one delivery, at the version the manifest named. */
export const SecretFetchSchema = z.object({
  type: z.literal('secret_fetch'),
  requestId: z.string().min(1).max(64),
  deliveryId: DeliveryIdSchema,
  version: z.number().int().positive(),
});
export type SecretFetch = z.infer<typeof SecretFetchSchema>;

/** Server → agent: the answer to a `secret_fetch` (a refusal is an `error` with the same requestId). */
export const SecretValueSchema = z.object({
  type: z.literal('secret_value'),
  requestId: z.string().min(1).max(64),
  deliveryId: DeliveryIdSchema,
  version: z.number().int().positive(),
  value: z
    .string()
    .max(MAX_VALUE_BASE64)
    .regex(/^[A-Za-z0-9+/]*={0,2}$/, 'base64 expected'),
});
export type SecretValue = z.infer<typeof SecretValueSchema>;

export const StatusItemSchema = z.object({
  deliveryId: DeliveryIdSchema,
  /** The version the state is about (0 when no version was ever written). */
  version: z.number().int().nonnegative(),
  state: z.enum(SECRET_DELIVERY_STATES),
  error: z.string().max(SECRET_DELIVERY_LIMITS.maxErrorLength).optional(),
});
export type StatusItem = z.infer<typeof StatusItemSchema>;

/** Agent → server: what changed on the node (delivered, removed, or why not). */
export const SecretStatusSchema = z.object({
  type: z.literal('secret_status'),
  items: z.array(StatusItemSchema).min(1).max(SECRET_DELIVERY_LIMITS.maxItemsPerNode),
});
export type SecretStatus = z.infer<typeof SecretStatusSchema>;

// ---------------------------------------------------------------------------
// Operator API

export const CreateSecretDeliverySchema = z.strictObject({
  path: SecretPathSchema,
  selector: z.string().min(1).max(SECRET_DELIVERY_LIMITS.maxSelectorLength),
  dest: DestinationSchema,
  /** Octal, as chmod takes it: `0400`. */
  mode: z.string().regex(/^0?[0-7]{3}$/, 'mode is 3 or 4 octal digits, e.g. 0400'),
  owner: AccountNameSchema.optional(),
  group: AccountNameSchema.optional(),
});
export type CreateSecretDelivery = z.infer<typeof CreateSecretDeliverySchema>;

export const DeliveryNodeStatusSchema = z.object({
  nodeId: z.string(),
  nodeName: z.string(),
  /** Whether the node matches the selector now (a node that no longer does has its file removed). */
  matches: z.boolean(),
  /** `pending`: the node should get (or lose) the file and has not reported it yet. */
  state: z.enum(SECRET_DELIVERY_STATES),
  version: z.number().int().nullable(),
  error: z.string().nullable(),
  updatedAt: z.number().int().nullable(),
});
export type DeliveryNodeStatus = z.infer<typeof DeliveryNodeStatusSchema>;

export const SecretDeliveryViewSchema = z.object({
  id: z.string(),
  path: z.string(),
  selector: z.string(),
  dest: z.string(),
  mode: z.string(),
  owner: z.string().nullable(),
  group: z.string().nullable(),
  createdBy: z.string(),
  createdAt: z.number().int(),
  deletedAt: z.number().int().nullable(),
  /** The secret's current version; null when the secret no longer exists. */
  currentVersion: z.number().int().nullable(),
  nodes: z.array(DeliveryNodeStatusSchema),
});
export type SecretDeliveryView = z.infer<typeof SecretDeliveryViewSchema>;

export const SecretDeliveryListSchema = z.object({ deliveries: z.array(SecretDeliveryViewSchema) });
export const SecretDeliveryListQuerySchema = z.object({
  path: SecretPathSchema.optional(),
  all: z.enum(['true', 'false']).optional(),
});
export const DeliveryIdParamsSchema = z.object({ id: z.string().min(1).max(64) });

/** `PATCH /v1/nodes/:node/labels`. */
export const NodeLabelsPatchSchema = z
  .strictObject({
    set: z.record(z.string().max(317), z.string().max(63)).default({}),
    remove: z.array(z.string().max(317)).max(256).default([]),
  })
  .refine((p) => Object.keys(p.set).length + p.remove.length > 0, 'set or remove at least one label')
  .refine((p) => Object.keys(p.set).length <= 256, 'at most 256 labels at once');
export type NodeLabelsPatch = z.infer<typeof NodeLabelsPatchSchema>;
