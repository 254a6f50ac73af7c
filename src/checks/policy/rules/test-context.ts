import type { ListeningPort } from '../../../protocol/facts.js';
import { createRuleContext } from '../context.js';
import type { RuleContext } from './types.js';

/**
 * The engine's RuleContext over a fixture root, for the host rules' unit tests:
 * each rule is tested alone, with listening sockets given directly instead of
 * read from `/proc`.
 */
export function fixtureContext(root: string, opts: { now?: number; listening?: ListeningPort[] } = {}): RuleContext {
  const host = { root, processes: async () => [], listening: async () => opts.listening ?? [] };
  return createRuleContext(host, opts.now ?? Date.UTC(2025, 0, 15));
}
