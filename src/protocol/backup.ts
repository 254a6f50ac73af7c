import { z } from 'zod';

/**
 * Limits of fleet backups. Every field of every message is bounded, both ways:
 * a node is semi-trusted, and what it reports is stored and shown to operators.
 */
export const BACKUP_LIMITS = {
  /** Policies in the cluster. */
  maxPolicies: 1000,
  /** Policies one node may receive; a node matching more gets the oldest ones. */
  maxPoliciesPerNode: 64,
  maxNameLength: 63,
  maxPaths: 64,
  maxPathLength: 4096,
  maxExcludes: 256,
  maxExcludeLength: 1024,
  maxTags: 16,
  maxTagLength: 64,
  maxRepoLength: 1024,
  maxEndpointLength: 1024,
  maxSelectorLength: 1024,
  maxCronLength: 128,
  maxPasswordLength: 1024,
  /** Bytes of a key file (before base64). */
  maxKeyFileBytes: 16 * 1024,
  maxS3KeyIdLength: 256,
  maxS3SecretLength: 1024,
  maxErrorLength: 1024,
  maxNotes: 8,
  maxNoteLength: 512,
  /** Problems (restore) and failures (drill) listed one by one; the count is always exact. */
  maxListedProblems: 100,
  maxIncludes: 256,
  /** Files a drill samples at most. */
  maxDrillSample: 10_000,
  defaultDrillSample: 100,
  /** A restore, drill or on-demand run is waited for at most this long. */
  maxWaitSeconds: 24 * 3600,
  defaultWaitSeconds: 3600,
  /** Runs and drills kept per node and policy. */
  historyKept: 100,
  maxListLimit: 1000,
} as const;

/** A policy's name: like a role name (`db-hourly`, `etc.nightly`). */
export const POLICY_NAME_PATTERN = /^[a-z0-9](?:[a-z0-9._-]{0,61}[a-z0-9])?$/;
export const TAG_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}$/;
/** A snapshot reference: `latest` or 4 to 64 hex digits of its id. */
export const SNAPSHOT_REF_PATTERN = /^(?:latest|[0-9a-f]{4,64})$/;
const HEX64 = /^[0-9a-f]{64}$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Why `path` is not an absolute, normalised path (`/` itself is one), or undefined when it is. */
export function absolutePathProblem(path: string): string | undefined {
  if (!path.startsWith('/')) return 'must be an absolute path';
  if (path.includes('\0')) return 'must not contain NUL';
  if (path === '/') return undefined;
  if (path.endsWith('/')) return 'must not end with "/"';
  const parts = path.slice(1).split('/');
  if (parts.some((part) => part === '' || part === '.' || part === '..')) return 'must be normalised (no "//", "." or ".." components)';
  if (parts.some((part) => part.length > 255)) return 'has a component longer than 255 characters';
  return undefined;
}

export const AbsolutePathSchema = z
  .string()
  .min(1)
  .max(BACKUP_LIMITS.maxPathLength)
  .superRefine((path, ctx) => {
    const problem = absolutePathProblem(path);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: `${JSON.stringify(path.slice(0, 64))} ${problem}` });
  });

export const PolicyNameSchema = z.string().regex(POLICY_NAME_PATTERN, 'a policy name is 1–63 lower-case letters, digits, ".", "_" or "-", starting and ending with a letter or digit');
export const TagSchema = z.string().regex(TAG_PATTERN, 'a tag is 1–64 letters, digits, ".", "_", ":", "@" or "-", starting with a letter or digit');
export const SnapshotRefSchema = z.string().regex(SNAPSHOT_REF_PATTERN, 'a snapshot is "latest" or 4 to 64 hex digits of its id');
/** The host a snapshot carries: the node's id as the server assigned it (`node_…`; a host name in stand-alone use). */
export const HostNameSchema = z.string().min(1).max(253).regex(/^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$/, 'a node id or host name');
export const CronSchema = z.string().min(1).max(BACKUP_LIMITS.maxCronLength);
/** Where a repository lives, as the agent opens it: an absolute directory or `s3://bucket/prefix`. */
export const RepoLocationSchema = z
  .string()
  .min(1)
  .max(BACKUP_LIMITS.maxRepoLength)
  .refine((repo) => (repo.startsWith('/') && !repo.includes('\0')) || /^s3:\/\/[a-z0-9.-]{3,63}(?:\/|$)/.test(repo), 'a repository is an absolute directory or s3://bucket/prefix');
export const EndpointSchema = z
  .string()
  .max(BACKUP_LIMITS.maxEndpointLength)
  .regex(/^https?:\/\/[^\s/?#@]+(?::\d+)?\/?$/, 'an S3 endpoint is http(s)://host[:port], without a user, path or query');

const KeepCountSchema = z.number().int().min(-1).max(1_000_000);
/** Which snapshots `forget` keeps (see src/backup/retention.ts): -1 keeps without limit. */
export const RetentionSchema = z.strictObject({
  last: KeepCountSchema.optional(),
  hourly: KeepCountSchema.optional(),
  daily: KeepCountSchema.optional(),
  weekly: KeepCountSchema.optional(),
  monthly: KeepCountSchema.optional(),
  yearly: KeepCountSchema.optional(),
  /** Milliseconds. */
  within: z
    .number()
    .int()
    .nonnegative()
    .max(100 * 365 * 86_400_000)
    .optional(),
  tags: z.array(TagSchema).min(1).max(BACKUP_LIMITS.maxTags).optional(),
});
export type Retention = z.infer<typeof RetentionSchema>;

/** What opens a repository: a password or the bytes of a key file (base64). */
export const RepoCredentialSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('password'), password: z.string().min(1).max(BACKUP_LIMITS.maxPasswordLength) }),
  z.strictObject({
    kind: z.literal('key-file'),
    keyFile: z
      .string()
      .min(4)
      .max(Math.ceil(BACKUP_LIMITS.maxKeyFileBytes / 3) * 4)
      .regex(BASE64, 'base64 expected'),
  }),
]);
export type RepoCredential = z.infer<typeof RepoCredentialSchema>;

export const S3CredentialsSchema = z.strictObject({
  accessKeyId: z.string().min(1).max(BACKUP_LIMITS.maxS3KeyIdLength),
  secretAccessKey: z.string().min(1).max(BACKUP_LIMITS.maxS3SecretLength),
});
export type S3Credentials = z.infer<typeof S3CredentialsSchema>;

const CountSchema = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const TimeSchema = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const RequestIdSchema = z.string().min(1).max(64);
const ErrorSchema = z.object({ code: z.string().min(1).max(64), message: z.string().max(BACKUP_LIMITS.maxErrorLength) });
const SnapshotIdSchema = z.string().regex(HEX64, 'a snapshot id is 64 hex digits');

// ---------------------------------------------------------------------------
// Agent channel

/**
 * One policy as a node receives it (only ever over the node's mTLS channel):
 * `repo` is the node's own repository (the policy's location + "/" + node id)
 * and `credential` the node's own key to it (src/backup/fleet-keys.ts).
 */
export const PolicyItemSchema = z.object({
  name: PolicyNameSchema,
  version: z.number().int().positive(),
  paths: z.array(AbsolutePathSchema).min(1).max(BACKUP_LIMITS.maxPaths),
  excludes: z.array(z.string().min(1).max(BACKUP_LIMITS.maxExcludeLength)).max(BACKUP_LIMITS.maxExcludes),
  tags: z.array(TagSchema).max(BACKUP_LIMITS.maxTags),
  schedule: CronSchema,
  repo: RepoLocationSchema,
  s3Endpoint: EndpointSchema.optional(),
  credential: RepoCredentialSchema,
  s3: S3CredentialsSchema.optional(),
  /** Absent: no forget after a backup. */
  retention: RetentionSchema.optional(),
  prune: z.boolean(),
  drillSchedule: CronSchema.optional(),
  drillSample: z.number().int().min(1).max(BACKUP_LIMITS.maxDrillSample),
});
export type PolicyItem = z.infer<typeof PolicyItemSchema>;

/** Server → agent: every policy the node should run now, and the host name its snapshots carry. Whatever is not listed stops. */
export const BackupPoliciesSchema = z.object({
  type: z.literal('backup_policies'),
  host: HostNameSchema,
  policies: z
    .array(PolicyItemSchema)
    .max(BACKUP_LIMITS.maxPoliciesPerNode)
    .refine((items) => new Set(items.map((i) => i.name)).size === items.length, 'policy names must be unique'),
});
export type BackupPolicies = z.infer<typeof BackupPoliciesSchema>;

/** Server → agent: run a policy's backup now; answered by a `backup_run` carrying the same requestId. */
export const BackupTriggerSchema = z.object({
  type: z.literal('backup_trigger'),
  requestId: RequestIdSchema,
  policy: PolicyNameSchema,
});
export type BackupTrigger = z.infer<typeof BackupTriggerSchema>;

export const RUN_STATES = ['succeeded', 'partial', 'failed', 'skipped'] as const;
export type RunState = (typeof RUN_STATES)[number];
export const RUN_TRIGGERS = ['schedule', 'manual'] as const;

export const RunStatsSchema = z.object({
  filesNew: CountSchema,
  filesChanged: CountSchema,
  filesUnchanged: CountSchema,
  dirs: CountSchema,
  bytesProcessed: CountSchema,
  bytesAdded: CountSchema,
  bytesStored: CountSchema,
  totalFiles: CountSchema,
  totalBytes: CountSchema,
  /** Files and directories that could not be read (the snapshot holds everything else). */
  errors: CountSchema,
});
export type RunStats = z.infer<typeof RunStatsSchema>;

/**
 * Agent → server: one backup run of a policy. `partial` wrote a snapshot but
 * could not read some files; `skipped` did not start because the previous run
 * of the policy was still going.
 */
export const BackupRunSchema = z.object({
  type: z.literal('backup_run'),
  /** The agent's id of the run: a report sent twice (after a reconnect) is stored once. */
  runId: RequestIdSchema,
  requestId: RequestIdSchema.optional(),
  policy: PolicyNameSchema,
  policyVersion: z.number().int().positive(),
  trigger: z.enum(RUN_TRIGGERS),
  state: z.enum(RUN_STATES),
  startedAt: TimeSchema,
  finishedAt: TimeSchema,
  snapshotId: SnapshotIdSchema.optional(),
  stats: RunStatsSchema.optional(),
  /** Snapshots of this host the retention policy removed. */
  forgotten: CountSchema.optional(),
  pruned: z.boolean().optional(),
  error: ErrorSchema.optional(),
  notes: z.array(z.string().max(BACKUP_LIMITS.maxNoteLength)).max(BACKUP_LIMITS.maxNotes).default([]),
});
export type BackupRunMessage = z.infer<typeof BackupRunSchema>;

/** Server → agent: restore a snapshot of one of the node's policies into `target` on the node. */
export const BackupRestoreSchema = z.object({
  type: z.literal('backup_restore'),
  requestId: RequestIdSchema,
  policy: PolicyNameSchema,
  /** Whose snapshots: this node's id, or the one of the node named by `--from-node`. */
  host: HostNameSchema,
  /** Restoring another node's snapshots: that node's repository and the key that opens it (absent: this node's own). */
  source: z.strictObject({ repo: RepoLocationSchema, credential: RepoCredentialSchema }).optional(),
  snapshot: SnapshotRefSchema,
  target: AbsolutePathSchema,
  include: z.array(AbsolutePathSchema).max(BACKUP_LIMITS.maxIncludes),
  timeoutMs: z.number().int().positive().max(BACKUP_LIMITS.maxWaitSeconds * 1000),
});
export type BackupRestoreRequest = z.infer<typeof BackupRestoreSchema>;

export const RestoreProblemSchema = z.object({
  path: z.string().max(BACKUP_LIMITS.maxPathLength),
  message: z.string().max(BACKUP_LIMITS.maxErrorLength),
  code: z.string().max(64),
});

/** Agent → server: what a restore did, or why it did not run (`error`). */
export const BackupRestoreResultSchema = z.object({
  type: z.literal('backup_restore_result'),
  requestId: RequestIdSchema,
  snapshotId: SnapshotIdSchema.optional(),
  snapshotTime: TimeSchema.optional(),
  files: CountSchema,
  dirs: CountSchema,
  symlinks: CountSchema,
  bytes: CountSchema,
  problems: z.array(RestoreProblemSchema).max(BACKUP_LIMITS.maxListedProblems),
  problemCount: CountSchema,
  durationMs: CountSchema,
  error: ErrorSchema.optional(),
});
export type BackupRestoreResult = z.infer<typeof BackupRestoreResultSchema>;

/** Server → agent: a recovery drill of one policy, now; answered by a `drill_result` with the same requestId. */
export const DrillRequestSchema = z.object({
  type: z.literal('drill'),
  requestId: RequestIdSchema,
  policy: PolicyNameSchema,
  sample: z.number().int().min(1).max(BACKUP_LIMITS.maxDrillSample),
  timeoutMs: z.number().int().positive().max(BACKUP_LIMITS.maxWaitSeconds * 1000),
});
export type DrillRequest = z.infer<typeof DrillRequestSchema>;

export const DRILL_STATES = ['succeeded', 'failed'] as const;
export type DrillState = (typeof DRILL_STATES)[number];

export const DrillFailureSchema = z.object({ path: z.string().max(BACKUP_LIMITS.maxPathLength), reason: z.string().max(BACKUP_LIMITS.maxErrorLength) });

/**
 * Agent → server: a drill, asked for (`requestId`) or run by the policy's drill
 * schedule. `failed` when it could not run (`error`) or any sampled file did not
 * come back as the snapshot recorded it.
 */
export const DrillResultSchema = z.object({
  type: z.literal('drill_result'),
  drillId: RequestIdSchema,
  requestId: RequestIdSchema.optional(),
  policy: PolicyNameSchema,
  trigger: z.enum(RUN_TRIGGERS),
  state: z.enum(DRILL_STATES),
  startedAt: TimeSchema,
  finishedAt: TimeSchema,
  snapshotId: SnapshotIdSchema.optional(),
  snapshotTime: TimeSchema.optional(),
  filesInSnapshot: CountSchema,
  filesSampled: CountSchema,
  filesVerified: CountSchema,
  filesFailed: CountSchema,
  failures: z.array(DrillFailureSchema).max(BACKUP_LIMITS.maxListedProblems),
  /** Bytes of the sampled files, and of every file in the snapshot. */
  sampleBytes: CountSchema,
  totalBytes: CountSchema,
  /** Time to restore the sample. */
  restoreMs: CountSchema,
  /** restoreMs × totalBytes / sampleBytes: an estimate of a full restore; null when the sample held no bytes. */
  estimatedRtoMs: CountSchema.nullable(),
  /** How old the snapshot was when the drill ran. */
  rpoMs: CountSchema.nullable(),
  error: ErrorSchema.optional(),
});
export type DrillResultMessage = z.infer<typeof DrillResultSchema>;

// ---------------------------------------------------------------------------
// Operator API

/** `PUT /v1/backups/policies/:name`: the whole policy; the credential only when it is set or replaced. */
export const PolicyInputSchema = z.strictObject({
  selector: z.string().min(1).max(BACKUP_LIMITS.maxSelectorLength),
  paths: z.array(AbsolutePathSchema).min(1).max(BACKUP_LIMITS.maxPaths),
  excludes: z.array(z.string().min(1).max(BACKUP_LIMITS.maxExcludeLength)).max(BACKUP_LIMITS.maxExcludes).default([]),
  tags: z.array(TagSchema).max(BACKUP_LIMITS.maxTags).default([]),
  schedule: CronSchema,
  repo: z.string().min(1).max(BACKUP_LIMITS.maxRepoLength),
  s3Endpoint: EndpointSchema.optional(),
  /** Required when the policy is created; absent on an update: the stored one is kept. */
  credential: RepoCredentialSchema.optional(),
  /** For s3:// repositories; absent on an update: the stored keys are kept. */
  s3Credentials: S3CredentialsSchema.optional(),
  retention: RetentionSchema.optional(),
  prune: z.boolean().default(false),
  drillSchedule: CronSchema.optional(),
  drillSample: z.number().int().min(1).max(BACKUP_LIMITS.maxDrillSample).default(BACKUP_LIMITS.defaultDrillSample),
  /** The recovery point objective: a node without a good backup for longer raises `backup.missed`. Default: twice the schedule's interval. */
  maxAgeSeconds: z
    .number()
    .int()
    .min(1)
    .max(365 * 86_400)
    .optional(),
});
export type PolicyInput = z.infer<typeof PolicyInputSchema>;

export const PolicyNameParamsSchema = z.object({ name: PolicyNameSchema });

export const PolicyViewSchema = z.object({
  name: z.string(),
  selector: z.string(),
  paths: z.array(z.string()),
  excludes: z.array(z.string()),
  tags: z.array(z.string()),
  schedule: z.string(),
  repo: z.string(),
  s3Endpoint: z.string().nullable(),
  /** Write-only: the kind and whether S3 keys are stored, never the values. */
  credential: z.object({ kind: z.enum(['password', 'key-file']), s3Keys: z.boolean() }),
  retention: RetentionSchema.nullable(),
  prune: z.boolean(),
  drillSchedule: z.string().nullable(),
  drillSample: z.number().int(),
  maxAgeSeconds: z.number().int(),
  /** True when max-age was derived from the schedule (twice its longest interval). */
  maxAgeDefault: z.boolean(),
  version: z.number().int(),
  createdBy: z.string(),
  createdAt: z.number().int(),
  updatedBy: z.string(),
  updatedAt: z.number().int(),
});
export type PolicyView = z.infer<typeof PolicyViewSchema>;
export const PolicyListSchema = z.object({ policies: z.array(PolicyViewSchema) });

const NodeQuerySchema = z.string().min(1).max(253);
const LimitSchema = z.coerce.number().int().min(1).max(BACKUP_LIMITS.maxListLimit).default(100);

export const StatusQuerySchema = z.object({ selector: z.string().max(BACKUP_LIMITS.maxSelectorLength).optional(), policy: PolicyNameSchema.optional() });

/** One node under one policy: its last good backup, how old that is, and what comes next. */
export const StatusRowSchema = z.object({
  nodeId: z.string(),
  nodeName: z.string(),
  policy: z.string(),
  lastGoodAt: z.number().int().nullable(),
  lastGoodSnapshot: z.string().nullable(),
  /** now − lastGoodAt: the recovery point right now; null when there was never a good backup. */
  ageMs: z.number().int().nullable(),
  maxAgeMs: z.number().int(),
  /** No good backup within max-age (counted from the policy's creation or the node's join when there never was one). */
  overdue: z.boolean(),
  lastRunAt: z.number().int().nullable(),
  lastRunState: z.enum(RUN_STATES).nullable(),
  lastError: ErrorSchema.nullable(),
  nextDueAt: z.number().int().nullable(),
});
export type StatusRow = z.infer<typeof StatusRowSchema>;
export const StatusListSchema = z.object({ now: z.number().int(), rows: z.array(StatusRowSchema) });

export const RunListQuerySchema = z.object({ node: NodeQuerySchema.optional(), policy: PolicyNameSchema.optional(), limit: LimitSchema });
export const RunViewSchema = z.object({
  id: z.string(),
  nodeId: z.string(),
  nodeName: z.string(),
  policy: z.string(),
  trigger: z.enum(RUN_TRIGGERS),
  state: z.enum(RUN_STATES),
  snapshotId: z.string().nullable(),
  startedAt: z.number().int(),
  finishedAt: z.number().int(),
  stats: RunStatsSchema.nullable(),
  forgotten: z.number().int().nullable(),
  pruned: z.boolean().nullable(),
  error: ErrorSchema.nullable(),
  notes: z.array(z.string()),
});
export type RunView = z.infer<typeof RunViewSchema>;
export const RunListSchema = z.object({ runs: z.array(RunViewSchema) });

export const DrillListQuerySchema = RunListQuerySchema;
export const DrillViewSchema = z.object({
  id: z.string(),
  nodeId: z.string(),
  nodeName: z.string(),
  policy: z.string(),
  trigger: z.enum(RUN_TRIGGERS),
  state: z.enum(DRILL_STATES),
  requestedBy: z.string().nullable(),
  startedAt: z.number().int(),
  finishedAt: z.number().int(),
  snapshotId: z.string().nullable(),
  snapshotTime: z.number().int().nullable(),
  filesInSnapshot: z.number().int(),
  filesSampled: z.number().int(),
  filesVerified: z.number().int(),
  filesFailed: z.number().int(),
  failures: z.array(DrillFailureSchema),
  sampleBytes: z.number().int(),
  totalBytes: z.number().int(),
  restoreMs: z.number().int(),
  estimatedRtoMs: z.number().int().nullable(),
  rpoMs: z.number().int().nullable(),
  error: ErrorSchema.nullable(),
});
export type DrillView = z.infer<typeof DrillViewSchema>;
export const DrillListSchema = z.object({ drills: z.array(DrillViewSchema) });

const WaitSchema = z.number().int().min(1).max(BACKUP_LIMITS.maxWaitSeconds).default(BACKUP_LIMITS.defaultWaitSeconds);

/** `POST /v1/backups/restore`. */
export const RestoreInputSchema = z.strictObject({
  node: NodeQuerySchema,
  fromNode: NodeQuerySchema.optional(),
  policy: PolicyNameSchema.optional(),
  snapshot: SnapshotRefSchema.default('latest'),
  target: AbsolutePathSchema,
  include: z.array(AbsolutePathSchema).max(BACKUP_LIMITS.maxIncludes).default([]),
  timeoutSeconds: WaitSchema,
});
export type RestoreInput = z.infer<typeof RestoreInputSchema>;

export const RestoreOutcomeSchema = z.object({
  nodeId: z.string(),
  nodeName: z.string(),
  policy: z.string(),
  host: z.string(),
  target: z.string(),
  snapshotId: z.string(),
  snapshotTime: z.number().int().nullable(),
  files: z.number().int(),
  dirs: z.number().int(),
  symlinks: z.number().int(),
  bytes: z.number().int(),
  problems: z.array(RestoreProblemSchema),
  problemCount: z.number().int(),
  durationMs: z.number().int(),
});
export type RestoreOutcome = z.infer<typeof RestoreOutcomeSchema>;

/** `POST /v1/backups/drills`. */
export const DrillInputSchema = z.strictObject({
  node: NodeQuerySchema,
  policy: PolicyNameSchema.optional(),
  sample: z.number().int().min(1).max(BACKUP_LIMITS.maxDrillSample).optional(),
  timeoutSeconds: WaitSchema,
});
export type DrillInput = z.infer<typeof DrillInputSchema>;

/** `POST /v1/backups/policies/:name/run`. */
export const RunNowInputSchema = z.strictObject({
  /** Only this node (it must match the policy); default every matching node. */
  node: NodeQuerySchema.optional(),
  /** Wait for the runs to end (default), or return once they were started. */
  wait: z.boolean().default(true),
  timeoutSeconds: WaitSchema,
});
export type RunNowInput = z.infer<typeof RunNowInputSchema>;

export const RunNowOutcomeSchema = z.object({
  policy: z.string(),
  nodes: z.array(
    z.object({
      nodeId: z.string(),
      nodeName: z.string(),
      /** The run, once it ended (with `wait`). */
      run: RunViewSchema.nullable(),
      /** Why the node did not run it (NOT_CONNECTED, TIMEOUT, DISCONNECTED …). */
      error: ErrorSchema.nullable(),
    }),
  ),
});
export type RunNowOutcome = z.infer<typeof RunNowOutcomeSchema>;

export const BACKUP_STREAM_CONTENT_TYPE = 'application/x-ndjson';

/**
 * The answer of the long operations (restore, drill, run now): NDJSON, a
 * `waiting` line every few seconds so no proxy drops a quiet connection, then
 * one `result` or `error` line.
 */
export const BackupStreamEventSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('waiting'), elapsedMs: z.number().int().nonnegative() }),
  z.object({ type: z.literal('result'), result: z.unknown() }),
  z.object({ type: z.literal('error'), code: z.string(), message: z.string() }),
]);
export type BackupStreamEvent = z.infer<typeof BackupStreamEventSchema>;
