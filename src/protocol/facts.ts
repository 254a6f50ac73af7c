import { createHash } from 'node:crypto';
import { canonicalJson } from '../core/canonical-json.js';
import { z } from 'zod';

/**
 * Facts are untrusted input from a node: every string and array is bounded, so a
 * compromised agent cannot fill the database (or an operator's terminal) with them.
 */
export const FACTS_LIMITS = { hostname: 253, string: 256, ipAddresses: 256, listeningPorts: 4096 } as const;

const text = (): z.ZodString => z.string().max(FACTS_LIMITS.string);

export const ListeningPortSchema = z.object({
  protocol: z.enum(['tcp', 'tcp6', 'udp', 'udp6']),
  address: text(),
  port: z.number().int().min(0).max(65535),
  /** Owning process, when /proc lets the agent see it. */
  process: z.object({ pid: z.number().int(), name: text() }).optional(),
});

export const NodeFactsSchema = z.object({
  hostname: z.string().max(FACTS_LIMITS.hostname),
  os: z.object({
    id: text().optional(),
    name: text().optional(),
    version: text().optional(),
    versionId: text().optional(),
    prettyName: text().optional(),
    codename: text().optional(),
  }),
  kernel: text().optional(),
  arch: text().optional(),
  cpuCount: z.number().int().nonnegative().optional(),
  memoryBytes: z.number().int().nonnegative().optional(),
  /** Seconds since boot; volatile, so it is left out of the change hash. */
  uptimeSeconds: z.number().nonnegative().optional(),
  ipAddresses: z.array(z.object({ interface: text(), address: text(), family: z.enum(['ipv4', 'ipv6']) })).max(FACTS_LIMITS.ipAddresses),
  listeningPorts: z.array(ListeningPortSchema).max(FACTS_LIMITS.listeningPorts),
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
