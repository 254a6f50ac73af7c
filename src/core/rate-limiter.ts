import type { Clock } from './clock.js';

/**
 * Counts failures per key (a source address, an account) in a sliding window and
 * says how long a key must wait once it has failed too often. Memory stays bounded:
 * stale keys are dropped as new ones arrive.
 */
export class FailureLimiter {
  readonly #failures = new Map<string, number[]>();
  readonly #max: number;
  readonly #windowMs: number;
  readonly #clock: Clock;
  readonly #maxKeys: number;

  constructor(opts: { maxFailures: number; windowMs: number; clock: Clock; maxKeys?: number }) {
    this.#max = opts.maxFailures;
    this.#windowMs = opts.windowMs;
    this.#clock = opts.clock;
    this.#maxKeys = opts.maxKeys ?? 100_000;
  }

  /** Milliseconds the key must still wait, or 0 when it may try. */
  retryAfter(key: string): number {
    const recent = this.#recent(key);
    if (recent.length < this.#max) return 0;
    const oldest = recent[recent.length - this.#max] ?? 0;
    return Math.max(0, oldest + this.#windowMs - this.#clock.now());
  }

  fail(key: string): void {
    const recent = this.#recent(key);
    recent.push(this.#clock.now());
    this.#failures.set(key, recent);
    if (this.#failures.size > this.#maxKeys) this.#prune();
  }

  #recent(key: string): number[] {
    const cutoff = this.#clock.now() - this.#windowMs;
    return (this.#failures.get(key) ?? []).filter((t) => t > cutoff);
  }

  #prune(): void {
    const cutoff = this.#clock.now() - this.#windowMs;
    for (const [key, times] of this.#failures) {
      if ((times[times.length - 1] ?? 0) <= cutoff) this.#failures.delete(key);
    }
  }
}
