import { z } from 'zod';
import { BackupPoliciesSchema, BackupRestoreResultSchema, BackupRestoreSchema, BackupRunSchema, BackupTriggerSchema, DrillRequestSchema, DrillResultSchema } from './backup.js';
import { AuditRequestSchema, AuditResultSchema } from './checks.js';
import { NodeFactsSchema } from './facts.js';
import { SecretFetchSchema, SecretStatusSchema, SecretValueSchema, SecretsManifestSchema } from './secret-delivery.js';

/** Protocol versions this build speaks, newest last. `hello` negotiates the highest both know. */
export const SUPPORTED_PROTOCOL_VERSIONS = [1] as const;

/** ALPN protocol an agent offers on the agent listener when it has no certificate yet. */
export const JOIN_ALPN = 'bulwark-join/1';

/** WebSocket path of the agent channel on the agent listener. */
export const AGENT_CONNECT_PATH = '/v1/agent/connect';
export const JOIN_PATH = '/v1/join';

/**
 * Largest message either side accepts. An audit result (every check's finding
 * plus the package inventory of a large host) is the biggest message; facts and
 * heartbeats are far smaller.
 */
export const MAX_AGENT_MESSAGE_BYTES = 8 * 1024 * 1024;

/**
 * A host name as RFC 1123 allows it: dot-separated labels of letters, digits and
 * hyphens (1–63 characters, no hyphen at either end), 253 characters at most. It
 * becomes the node's display name, so nothing else (spaces, control characters,
 * escape sequences) may get in.
 */
export const HOSTNAME_PATTERN = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

export const JoinRequestSchema = z.object({
  token: z.string().min(1).max(256),
  csr: z.string().min(1).max(16 * 1024),
  hostname: z.string().min(1).max(253).regex(HOSTNAME_PATTERN, 'must be an RFC 1123 host name: letters, digits, hyphens and dots, at most 253 characters'),
  agentVersion: z.string().max(64),
});
export type JoinRequest = z.infer<typeof JoinRequestSchema>;

export const JoinResponseSchema = z.object({
  nodeId: z.string(),
  clusterName: z.string(),
  certificate: z.string(),
  caCertificate: z.string(),
  notAfter: z.number().int(),
  labels: z.record(z.string(), z.string()),
});
export type JoinResponse = z.infer<typeof JoinResponseSchema>;

// Agent → server
export const HelloSchema = z.object({
  type: z.literal('hello'),
  protocolVersions: z.array(z.number().int().positive()).min(1).max(32),
  agentVersion: z.string().max(64),
});
export const HeartbeatSchema = z.object({
  type: z.literal('heartbeat'),
  seq: z.number().int().nonnegative(),
  sentAt: z.number().int(),
});
export const FactsMessageSchema = z.object({
  type: z.literal('facts'),
  facts: NodeFactsSchema,
});
export const RenewRequestSchema = z.object({
  type: z.literal('renew'),
  requestId: z.string().max(64),
  csr: z.string().min(1).max(16 * 1024),
});

/** Limits of a remote command (`exec`): argv items, their length, and the size of one output chunk. */
export const EXEC_LIMITS = { maxArgs: 256, maxArgLength: 4096, maxChunkBytes: 16 * 1024, maxTimeoutMs: 3_600_000 } as const;

/** Output of a running `exec`, in order, utf8, at most 16 KiB a chunk. */
export const ExecOutputSchema = z.object({
  type: z.literal('exec_output'),
  requestId: z.string().min(1).max(64),
  stream: z.enum(['stdout', 'stderr']),
  data: z.string().max(EXEC_LIMITS.maxChunkBytes),
});
/** The end of an `exec`: exit code or signal, or `error` when the command was refused or could not run. */
export const ExecExitSchema = z.object({
  type: z.literal('exec_exit'),
  requestId: z.string().min(1).max(64),
  exitCode: z.number().int().nullable(),
  signal: z.string().max(32).nullable(),
  error: z.object({ code: z.string().max(64), message: z.string().max(1024) }).optional(),
  truncated: z.boolean(),
});

export const AgentMessageSchema = z.discriminatedUnion('type', [HelloSchema, HeartbeatSchema, FactsMessageSchema, RenewRequestSchema, ExecOutputSchema, ExecExitSchema, AuditResultSchema, SecretFetchSchema, SecretStatusSchema, BackupRunSchema, BackupRestoreResultSchema, DrillResultSchema]);
export type AgentMessage = z.infer<typeof AgentMessageSchema>;

// Server → agent
export const WelcomeSchema = z.object({
  type: z.literal('welcome'),
  protocolVersion: z.number().int(),
  nodeId: z.string(),
  heartbeatIntervalMs: z.number().int().positive(),
  serverTime: z.number().int(),
});
export const HeartbeatAckSchema = z.object({
  type: z.literal('heartbeat_ack'),
  seq: z.number().int().nonnegative(),
  serverTime: z.number().int(),
});
export const RenewedSchema = z.object({
  type: z.literal('renewed'),
  requestId: z.string(),
  certificate: z.string(),
  notAfter: z.number().int(),
});
export const ServerErrorSchema = z.object({
  type: z.literal('error'),
  requestId: z.string().optional(),
  code: z.string(),
  message: z.string(),
  /** true when the server closes the channel after this message and the agent should not retry (removed, revoked). */
  fatal: z.boolean(),
});

/** Runs a command on the node, if the agent's own configuration allows it (see docs/agent-protocol.md). No shell. */
export const ExecRequestSchema = z.object({
  type: z.literal('exec'),
  requestId: z.string().min(1).max(64),
  argv: z
    .array(z.string().max(EXEC_LIMITS.maxArgLength).refine((a) => !a.includes('\0'), 'must not contain NUL'))
    .min(1)
    .max(EXEC_LIMITS.maxArgs)
    .refine((argv) => (argv[0] ?? '') !== '', 'the command (argv[0]) must not be empty'),
  timeoutMs: z.number().int().positive().max(EXEC_LIMITS.maxTimeoutMs),
  maxOutputBytes: z.number().int().nonnegative(),
});
export type ExecRequest = z.infer<typeof ExecRequestSchema>;
export type ExecOutput = z.infer<typeof ExecOutputSchema>;
export type ExecExit = z.infer<typeof ExecExitSchema>;

export const ServerMessageSchema = z.discriminatedUnion('type', [WelcomeSchema, HeartbeatAckSchema, RenewedSchema, ServerErrorSchema, ExecRequestSchema, AuditRequestSchema, SecretsManifestSchema, SecretValueSchema, BackupPoliciesSchema, BackupTriggerSchema, BackupRestoreSchema, DrillRequestSchema]);
export type ServerMessage = z.infer<typeof ServerMessageSchema>;

/** WebSocket close codes the server uses; 4000–4999 are free for applications. */
export const CLOSE_CODES = {
  removed: 4001,
  revoked: 4002,
  protocol: 4003,
  superseded: 4004,
  shutdown: 1001,
} as const;

/** Picks the highest protocol version both sides speak, or undefined. */
export function negotiateProtocol(offered: readonly number[], supported: readonly number[] = SUPPORTED_PROTOCOL_VERSIONS): number | undefined {
  const common = offered.filter((v) => supported.includes(v));
  return common.length === 0 ? undefined : Math.max(...common);
}
