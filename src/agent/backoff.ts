/**
 * Exponential backoff with full jitter: the wait is uniform in [0, min(cap, base·2^n)],
 * so a fleet that lost its server does not come back in lock-step.
 */
export function backoffDelay(attempt: number, opts: { baseMs?: number; capMs?: number; random?: () => number } = {}): number {
  const base = opts.baseMs ?? 500;
  const cap = opts.capMs ?? 60_000;
  const ceiling = Math.min(cap, base * 2 ** Math.min(attempt, 30));
  return Math.floor((opts.random ?? Math.random)() * ceiling);
}
