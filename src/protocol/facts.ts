import { createHash } from 'node:crypto';
import { canonicalJson } from '../core/canonical-json.js';
import { z } from 'zod';

export const ListeningPortSchema = z.object({
  protocol: z.enum(['tcp', 'tcp6', 'udp', 'udp6']),
  address: z.string(),
  port: z.number().int().min(0).max(65535),
  /** Owning process, when /proc lets the agent see it. */
  process: z.object({ pid: z.number().int(), name: z.string() }).optional(),
});

export const NodeFactsSchema = z.object({
  hostname: z.string(),
  os: z.object({
    id: z.string().optional(),
    name: z.string().optional(),
    version: z.string().optional(),
    versionId: z.string().optional(),
    prettyName: z.string().optional(),
    codename: z.string().optional(),
  }),
  kernel: z.string().optional(),
  arch: z.string().optional(),
  cpuCount: z.number().int().nonnegative().optional(),
  memoryBytes: z.number().int().nonnegative().optional(),
  /** Seconds since boot; volatile, so it is left out of the change hash. */
  uptimeSeconds: z.number().nonnegative().optional(),
  ipAddresses: z.array(z.object({ interface: z.string(), address: z.string(), family: z.enum(['ipv4', 'ipv6']) })),
  listeningPorts: z.array(ListeningPortSchema),
  packages: z.object({ manager: z.literal('dpkg'), count: z.number().int().nonnegative() }).optional(),
  collectedAt: z.number().int(),
});

export type NodeFacts = z.infer<typeof NodeFactsSchema>;
export type ListeningPort = z.infer<typeof ListeningPortSchema>;

/**
 * Hash of the facts that matter for change detection: volatile fields (uptime,
 * collection time) are left out, so an agent re-sends facts only when something
 * real changed, and the server stores them only then.
 */
export function factsHash(facts: NodeFacts): string {
  const { uptimeSeconds: _uptime, collectedAt: _collected, ...stable } = facts;
  return createHash('sha256').update(canonicalJson(stable)).digest('hex');
}
