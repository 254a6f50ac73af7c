import { z } from 'zod';

/**
 * Audit messages and API shapes. Findings arrive from nodes, so every string and
 * list is bounded here: a compromised agent cannot fill the database, a report or
 * an operator's terminal with them.
 */
export const AUDIT_LIMITS = {
  findings: 20_000,
  packages: 50_000,
  errors: 200,
  evidence: 1024,
  text: 4096,
  policies: 32,
  policyBytes: 1024 * 1024,
  tlsTargets: 256,
} as const;

const short = (max = 256): z.ZodString => z.string().max(max);
const SEVERITY = z.enum(['critical', 'high', 'medium', 'low', 'info']);
const STATUS = z.enum(['pass', 'fail', 'not_applicable']);

export const FindingSchema = z.object({
  kind: z.enum(['check', 'vulnerability', 'tls']),
  key: short(512),
  ruleId: short(),
  source: short(),
  title: short(1024),
  severity: SEVERITY,
  status: STATUS,
  evidence: short(AUDIT_LIMITS.evidence + 8),
  rationale: short(AUDIT_LIMITS.text).optional(),
  remediation: short(AUDIT_LIMITS.text).optional(),
  references: z.array(short(1024)).max(32).optional(),
  compliance: z.record(short(64), z.array(short(64)).max(64)).optional(),
  location: short(1024).optional(),
  details: z.record(short(64), z.union([short(AUDIT_LIMITS.text), z.number(), z.boolean(), z.array(short(256)).max(64)])).optional(),
});

export const AuditErrorSchema = z.object({ source: short(), message: short(AUDIT_LIMITS.text) });

export const InventoryPackageSchema = z.object({
  name: short(),
  version: short(),
  source: short(),
  sourceVersion: short(),
  architecture: short(64).optional(),
});

/** What a node has installed, for the server's vulnerability matching. */
export const InventorySchema = z.object({
  manager: z.literal('dpkg'),
  /** Debian codename (bookworm, …) from os-release; absent when unknown. */
  release: short(64).optional(),
  packages: z.array(InventoryPackageSchema).max(AUDIT_LIMITS.packages),
});

/** A policy the agent evaluates: a built-in pack by id, or a custom policy's YAML. */
export const AuditPolicyRefSchema = z.union([
  z.object({ builtin: short(64) }),
  z.object({ id: short(128), text: z.string().max(AUDIT_LIMITS.policyBytes) }),
]);

/** What a node audit covers; the server fills it from the run or schedule. */
export const AuditScopeSchema = z.object({
  policies: z.array(AuditPolicyRefSchema).max(AUDIT_LIMITS.policies),
  /** Report installed packages for vulnerability matching. */
  inventory: z.boolean(),
  /** Scan the node's own TCP listeners for TLS. */
  tlsListeners: z.boolean(),
  /** Extra `host:port` TLS targets, scanned from the node. */
  tlsTargets: z.array(short(300)).max(AUDIT_LIMITS.tlsTargets),
});

// Server → agent
export const AuditRequestSchema = z.object({
  type: z.literal('audit'),
  requestId: z.string().min(1).max(64),
  scope: AuditScopeSchema,
  timeoutMs: z.number().int().positive().max(3_600_000),
});

// Agent → server
export const AuditResultSchema = z.object({
  type: z.literal('audit_result'),
  requestId: z.string().min(1).max(64),
  startedAt: z.number().int(),
  finishedAt: z.number().int(),
  findings: z.array(FindingSchema).max(AUDIT_LIMITS.findings),
  errors: z.array(AuditErrorSchema).max(AUDIT_LIMITS.errors),
  inventory: InventorySchema.optional(),
  /** Set when the agent refused or could not run the audit at all. */
  failure: z.object({ code: short(64), message: short(1024) }).optional(),
});

export type AuditPolicyRef = z.infer<typeof AuditPolicyRefSchema>;
export type AuditRequest = z.infer<typeof AuditRequestSchema>;
export type AuditResultMessage = z.infer<typeof AuditResultSchema>;
export type Inventory = z.infer<typeof InventorySchema>;

const POLICY_ID = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'a policy id is letters, digits, ".", "_" or "-", at most 128 characters');

/** What an audit run or schedule covers, as the API takes it. */
export const AuditSpecSchema = z.object({
  /** Built-in packs and custom policies, by id. Default: the built-in `linux-baseline`. */
  policies: z.array(POLICY_ID).max(AUDIT_LIMITS.policies).default(['linux-baseline']),
  /** Match installed packages against the advisory data set. */
  vulnerabilities: z.boolean().default(true),
  /** Scan each node's own TLS listeners. */
  tlsListeners: z.boolean().default(true),
  /** Extra `host:port` targets each node scans. */
  tlsTargets: z.array(short(300)).max(AUDIT_LIMITS.tlsTargets).default([]),
});
export type AuditSpec = z.infer<typeof AuditSpecSchema>;

export const AuditRunRequestSchema = AuditSpecSchema.extend({
  selector: z.string().max(1024).default(''),
  /** Per node; default 10 minutes. */
  timeoutSeconds: z.number().int().min(5).max(3600).default(600),
});
export type AuditRunRequest = z.infer<typeof AuditRunRequestSchema>;

export const AuditScheduleRequestSchema = AuditSpecSchema.extend({
  name: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'a schedule name is 1–63 lower-case letters, digits, ".", "_" or "-"'),
  cron: z.string().min(1).max(128),
  selector: z.string().max(1024).default(''),
  enabled: z.boolean().default(true),
});
export type AuditScheduleRequest = z.infer<typeof AuditScheduleRequestSchema>;

export const RUN_STATUSES = ['running', 'done'] as const;
export const NODE_RESULT_STATUSES = ['pending', 'done', 'failed'] as const;

export const DriftSchema = z.object({
  /** Checks that passed in the previous result and fail now. */
  regressed: z.array(z.string()).max(1000),
  /** Vulnerabilities not reported in the previous result. */
  newVulnerabilities: z.array(z.string()).max(1000),
  /** Weak TLS findings not reported in the previous result. */
  newTls: z.array(z.string()).max(1000),
  /** Failing before, passing or gone now. */
  resolved: z.array(z.string()).max(1000),
  previousRunId: z.string(),
});
export type Drift = z.infer<typeof DriftSchema>;

// API views

const SummarySchema = z.object({
  passed: z.number().int(),
  failed: z.number().int(),
  notApplicable: z.number().int(),
  score: z.number(),
  failedBySeverity: z.record(z.string(), z.number().int()),
});

export const AuditRunViewSchema = z.object({
  id: z.string(),
  trigger: z.enum(['manual', 'schedule']),
  scheduleId: z.string().nullable(),
  requestedBy: z.string(),
  selector: z.string(),
  spec: AuditSpecSchema,
  status: z.enum(RUN_STATUSES),
  nodeCount: z.number().int(),
  createdAt: z.number().int(),
  deadlineAt: z.number().int(),
  finishedAt: z.number().int().nullable(),
});

export const NodeResultViewSchema = z.object({
  runId: z.string(),
  nodeId: z.string(),
  nodeName: z.string(),
  status: z.enum(NODE_RESULT_STATUSES),
  startedAt: z.number().int().nullable(),
  finishedAt: z.number().int().nullable(),
  summary: SummarySchema.nullable(),
  errors: z.array(AuditErrorSchema),
  failure: z.object({ code: z.string(), message: z.string() }).nullable(),
  drift: DriftSchema.nullable(),
});

export const AuditRunDetailSchema = z.object({ run: AuditRunViewSchema, results: z.array(NodeResultViewSchema) });
export const AuditRunListSchema = z.object({ runs: z.array(AuditRunViewSchema) });
export const AuditRunStartedSchema = z.object({ run: AuditRunViewSchema, nodes: z.array(z.object({ id: z.string(), name: z.string() })) });
export const AuditResultListSchema = z.object({ results: z.array(NodeResultViewSchema) });

export const FindingViewSchema = FindingSchema.extend({ nodeId: z.string(), nodeName: z.string(), runId: z.string() });
export const FindingListSchema = z.object({ findings: z.array(FindingViewSchema), truncated: z.boolean() });

const csv = <T extends string>(values: readonly [T, ...T[]]) =>
  z
    .string()
    .max(256)
    .transform((s, ctx) => {
      const items = s.split(',').map((v) => v.trim()).filter((v) => v !== '');
      for (const item of items) {
        if (!(values as readonly string[]).includes(item)) {
          ctx.addIssue({ code: 'custom', message: `"${item}" is not one of ${values.join(', ')}` });
          return z.NEVER;
        }
      }
      return items as T[];
    });

export const FindingQuerySchema = z.object({
  node: z.string().max(256).optional(),
  selector: z.string().max(1024).optional(),
  run: z.string().max(64).optional(),
  /** At least this severity (`high` = high and critical), or a comma-separated list. */
  severity: csv(['critical', 'high', 'medium', 'low', 'info']).optional(),
  minSeverity: z.enum(['critical', 'high', 'medium', 'low', 'info']).optional(),
  status: csv(['pass', 'fail', 'not_applicable']).optional(),
  kind: csv(['check', 'vulnerability', 'tls']).optional(),
  limit: z.coerce.number().int().min(1).max(100_000).default(10_000),
});

export const ReportQuerySchema = z.object({
  format: z.enum(['json', 'sarif', 'junit', 'html']).default('json'),
  selector: z.string().max(1024).optional(),
  run: z.string().max(64).optional(),
});

export const ScheduleViewSchema = z.object({
  id: z.string(),
  name: z.string(),
  cron: z.string(),
  selector: z.string(),
  spec: AuditSpecSchema,
  enabled: z.boolean(),
  createdBy: z.string(),
  createdAt: z.number().int(),
  updatedAt: z.number().int(),
  nextRunAt: z.number().int(),
  lastRunAt: z.number().int().nullable(),
  lastRunId: z.string().nullable(),
});
export const ScheduleListSchema = z.object({ schedules: z.array(ScheduleViewSchema) });
export const ScheduleParamsSchema = z.object({ name: z.string().max(63) });
export const ScheduleBodySchema = AuditScheduleRequestSchema.omit({ name: true });

export const PolicyUploadSchema = z.object({ yaml: z.string().max(AUDIT_LIMITS.policyBytes), fileName: z.string().max(256).default('policy.yml') });
export const PolicyViewSchema = z.object({
  id: z.string(),
  name: z.string(),
  format: z.string(),
  checkCount: z.number().int(),
  builtin: z.boolean(),
  createdBy: z.string().nullable(),
  updatedAt: z.number().int().nullable(),
});
export const PolicyListSchema = z.object({ policies: z.array(PolicyViewSchema) });
export const PolicyAddedSchema = z.object({ policy: PolicyViewSchema, created: z.boolean() });
export const PolicyParamsSchema = z.object({ id: z.string().max(128) });

export const VulnDbImportedSchema = z.object({ format: z.string(), added: z.number().int(), updated: z.number().int(), skipped: z.number().int() });
export const VulnDbStatsSchema = z.object({ sources: z.array(z.object({ origin: z.string(), count: z.number().int(), lastImportAt: z.number().int().nullable() })) });
