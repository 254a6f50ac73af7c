import { z } from 'zod';
import { NodeFactsSchema } from './facts.js';

export const NODE_STATES = ['pending', 'active', 'suspect', 'offline', 'removed'] as const;
export type NodeState = (typeof NODE_STATES)[number];

export const LabelsSchema = z.record(z.string(), z.string());

export const ErrorResponseSchema = z.object({
  error: z.object({ code: z.string(), message: z.string() }),
});

export const NodeSchema = z.object({
  id: z.string(),
  name: z.string(),
  labels: LabelsSchema,
  state: z.enum(NODE_STATES),
  joinedAt: z.number().int(),
  lastSeenAt: z.number().int().nullable(),
  stateChangedAt: z.number().int(),
  removedAt: z.number().int().nullable(),
  agentVersion: z.string().nullable(),
  protocolVersion: z.number().int().nullable(),
  certSerial: z.string().nullable(),
  certNotAfter: z.number().int().nullable(),
  connected: z.boolean(),
  facts: NodeFactsSchema.nullable(),
});
export type NodeView = z.infer<typeof NodeSchema>;

export const NodeListQuerySchema = z.object({
  selector: z.string().max(1024).optional(),
  state: z.enum(NODE_STATES).optional(),
  includeRemoved: z.enum(['true', 'false']).optional(),
});
export const NodeListSchema = z.object({ nodes: z.array(NodeSchema) });

export const NodeRefParamsSchema = z.object({ node: z.string().min(1).max(253) });

export const CreateJoinTokenSchema = z.object({
  ttlSeconds: z.number().int().positive().max(365 * 86400).default(3600),
  uses: z.number().int().positive().max(100_000).default(1),
  labels: LabelsSchema.default({}),
  description: z.string().max(256).optional(),
});
export const JoinTokenSchema = z.object({
  id: z.string(),
  labels: LabelsSchema,
  usesAllowed: z.number().int(),
  usesCount: z.number().int(),
  expiresAt: z.number().int(),
  createdAt: z.number().int(),
  revokedAt: z.number().int().nullable(),
  description: z.string().nullable(),
});
export type JoinTokenView = z.infer<typeof JoinTokenSchema>;
export const CreatedJoinTokenSchema = JoinTokenSchema.extend({
  /** The token itself; shown once, stored only as a hash. */
  token: z.string(),
  caPin: z.string(),
  joinCommand: z.string(),
});
export const JoinTokenListSchema = z.object({ tokens: z.array(JoinTokenSchema) });
export const TokenIdParamsSchema = z.object({ id: z.string().min(1).max(64) });

export const EventSchema = z.object({
  id: z.number().int(),
  time: z.number().int(),
  type: z.string(),
  nodeId: z.string().nullable(),
  details: z.record(z.string(), z.unknown()),
});
export type EventView = z.infer<typeof EventSchema>;
export const EventListQuerySchema = z.object({
  after: z.coerce.number().int().nonnegative().optional(),
  node: z.string().max(253).optional(),
  type: z.string().max(64).optional(),
  limit: z.coerce.number().int().positive().max(1000).default(100),
  /** Long-poll: wait up to this many seconds for a new event when none is there. */
  wait: z.coerce.number().int().min(0).max(60).default(0),
});
export const EventListSchema = z.object({ events: z.array(EventSchema), lastId: z.number().int() });

export const ClusterInfoSchema = z.object({
  clusterName: z.string(),
  caPin: z.string(),
  caCertificate: z.string(),
  agentAddresses: z.array(z.string()),
  version: z.string(),
});

export const HealthSchema = z.object({ status: z.enum(['ok', 'unavailable']), checks: z.record(z.string(), z.string()).optional() });
