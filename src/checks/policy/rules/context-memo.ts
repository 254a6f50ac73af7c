import type { AccessRefusedError } from '../path-guard.js';
import type { RuleContext } from './types.js';

interface Memo {
  value: Promise<unknown>;
  /** The accesses refused while the value was computed: every rule that uses the value meets them too. */
  refusals: AccessRefusedError[];
}

const memos = new WeakMap<RuleContext, Map<string, Memo>>();

/**
 * Computes a value once per evaluation (one RuleContext): the parsed dpkg
 * database, passwd and group, a command's output. It goes with the context, so
 * the next evaluation sees the host as it is then. A value computed from a
 * refused access (a denied path) carries the refusal to every later rule that
 * uses it, so that rule is not applicable too rather than decided on a read
 * that never happened.
 */
export function memoize<T>(ctx: RuleContext, key: string, compute: () => Promise<T>): Promise<T> {
  let cache = memos.get(ctx);
  if (cache === undefined) {
    cache = new Map();
    memos.set(ctx, cache);
  }
  const known = cache.get(key);
  if (known !== undefined) {
    return (known.value as Promise<T>).finally(() => {
      ctx.refusals.push(...known.refusals);
    });
  }
  const from = ctx.refusals.length;
  const refusals: AccessRefusedError[] = [];
  const value = compute().finally(() => {
    refusals.push(...ctx.refusals.slice(from));
  });
  cache.set(key, { value, refusals });
  return value;
}
