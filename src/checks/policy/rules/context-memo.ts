import type { RuleContext } from './types.js';

const memos = new WeakMap<RuleContext, Map<string, Promise<unknown>>>();

/**
 * Computes a value once per evaluation (one RuleContext): the parsed dpkg
 * database, passwd and group, a command's output. It goes with the context, so
 * the next evaluation sees the host as it is then.
 */
export function memoize<T>(ctx: RuleContext, key: string, compute: () => Promise<T>): Promise<T> {
  let cache = memos.get(ctx);
  if (cache === undefined) {
    cache = new Map();
    memos.set(ctx, cache);
  }
  let pending = cache.get(key) as Promise<T> | undefined;
  if (pending === undefined) {
    pending = compute();
    cache.set(key, pending);
  }
  return pending;
}
