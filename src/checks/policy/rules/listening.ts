import { z } from 'zod';
import type { ListeningPort } from '../../../protocol/facts.js';
import { memoize } from './context-memo.js';
import { listItems } from './evidence-list.js';
import { defineRule } from './types.js';
import type { RuleOutcome } from './types.js';

const port = z.number().int().min(0).max(65535);
const oneOrMany = <T extends z.ZodType>(item: T) => z.union([item, z.array(item).min(1)]);

const SocketFilterSchema = z.strictObject({
  port: oneOrMany(port).optional(),
  /** The owning process's short name (`/proc/<pid>/comm`), e.g. sshd. */
  process: oneOrMany(z.string().min(1)).optional(),
  protocol: z.enum(['tcp', 'udp']).optional(),
});

export const ListeningRuleSchema = z.strictObject({
  listening: SocketFilterSchema.extend({
    /** loopback: 127.0.0.0/8 or ::1; all_interfaces: 0.0.0.0 or ::; any (the default): wherever. */
    address: z.enum(['any', 'loopback', 'all_interfaces']).optional(),
  }),
  /** Sockets that match the filter but are expected (sshd on port 22). */
  allow: z.array(SocketFilterSchema).optional(),
  expect: z.enum(['absent', 'present']),
});
export type ListeningRule = z.infer<typeof ListeningRuleSchema>;
type SocketFilter = z.infer<typeof SocketFilterSchema>;

function asList<T>(value: T | T[] | undefined): T[] | undefined {
  return value === undefined ? undefined : Array.isArray(value) ? value : [value];
}

function isLoopback(address: string): boolean {
  return address === '::1' || /^(::ffff:)?127\./.test(address);
}

function isAllInterfaces(address: string): boolean {
  return address === '0.0.0.0' || address === '::' || address === '::ffff:0.0.0.0';
}

function matchesFilter(socket: ListeningPort, filter: SocketFilter): boolean {
  const ports = asList(filter.port);
  const processes = asList(filter.process);
  if (ports !== undefined && !ports.includes(socket.port)) return false;
  // A socket whose owner could not be seen matches no process name.
  if (processes !== undefined && (socket.process === undefined || !processes.includes(socket.process.name))) return false;
  return filter.protocol === undefined || socket.protocol.startsWith(filter.protocol);
}

function describe(socket: ListeningPort): string {
  const address = socket.address.includes(':') ? `[${socket.address}]` : socket.address;
  const owner = socket.process === undefined ? '' : ` (${socket.process.name}, pid ${socket.process.pid})`;
  return `${socket.protocol} ${address}:${socket.port}${owner}`;
}

/**
 * The `listening` rule: whether a socket listens that matches a port, process,
 * protocol and address class, less those on the allow-list. Sockets come from
 * the host's `/proc/net` tables through `ctx.host.listening()`.
 */
export const LISTENING_RULE = defineRule({
  key: 'listening',
  schema: ListeningRuleSchema,
  async evaluate(rule, ctx): Promise<RuleOutcome> {
    const { address = 'any', ...filter } = rule.listening;
    // One snapshot per evaluation: every listening check judges the same sockets, read once.
    const sockets = (await memoize(ctx, 'listening', () => ctx.host.listening())).filter(
      (socket) =>
        matchesFilter(socket, filter) &&
        (address === 'any' || (address === 'loopback' ? isLoopback(socket.address) : isAllInterfaces(socket.address))) &&
        !(rule.allow ?? []).some((allowed) => matchesFilter(socket, allowed)),
    );
    const found = sockets.length > 0;
    const evidence = found ? `${sockets.length} listening: ${listItems(sockets.map(describe))}` : 'no matching listening socket';
    return { result: rule.expect === 'present' ? found : !found, evidence };
  },
});
