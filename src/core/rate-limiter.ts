import type { Clock } from './clock.js';

/**
 * Counts failures per key (a source address, an account) in a sliding window and
 * says how long a key must wait once it has failed too often. Memory stays bounded
 * by a hard cap on keys: the map is kept in order of last failure, so stale keys
 * and, past the cap, the least recently failing ones are dropped from its front —
 * never by scanning the whole map.
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
    this.#maxKeys = Math.max(1, opts.maxKeys ?? 100_000);
  }

  /** Keys currently tracked (tests). */
  get size(): number {
    return this.#failures.size;
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
    // Only the last `max` failures decide the wait: an attacker cannot grow one key's list.
    if (recent.length > this.#max) recent.splice(0, recent.length - this.#max);
    // Re-insert, so the map's insertion order is the order of last failure.
    this.#failures.delete(key);
    this.#failures.set(key, recent);
    this.#evict();
  }

  #recent(key: string): number[] {
    const cutoff = this.#clock.now() - this.#windowMs;
    return (this.#failures.get(key) ?? []).filter((t) => t > cutoff);
  }

  /** Drops stale keys from the front, then the oldest ones past the cap: O(dropped), not O(keys). */
  #evict(): void {
    const cutoff = this.#clock.now() - this.#windowMs;
    for (const [key, times] of this.#failures) {
      if (this.#failures.size > this.#maxKeys || (times[times.length - 1] ?? 0) <= cutoff) this.#failures.delete(key);
      else break;
    }
  }
}

/**
 * Exponential backoff per key: the first `free` failures cost nothing, each
 * further one doubles the wait (from `baseMs` up to `capMs`); a success clears
 * the key. Suits logins, where a person mistypes a few times but a guesser must
 * be slowed ever more.
 */
export class BackoffLimiter {
  readonly #state = new Map<string, { failures: number; until: number; last: number }>();

  constructor(
    private readonly opts: { free: number; baseMs: number; capMs: number; clock: Clock; maxKeys?: number },
  ) {}

  retryAfter(key: string): number {
    const s = this.#state.get(key);
    return s ? Math.max(0, s.until - this.opts.clock.now()) : 0;
  }

  fail(key: string): void {
    const now = this.opts.clock.now();
    const s = this.#state.get(key) ?? { failures: 0, until: 0, last: now };
    // A key quiet for longer than the cap starts afresh.
    if (now - s.last > this.opts.capMs * 2) s.failures = 0;
    s.failures += 1;
    s.last = now;
    const over = s.failures - this.opts.free;
    s.until = over > 0 ? now + Math.min(this.opts.capMs, this.opts.baseMs * 2 ** (over - 1)) : 0;
    this.#state.set(key, s);
    if (this.#state.size > (this.opts.maxKeys ?? 100_000)) this.#prune(now);
  }

  succeed(key: string): void {
    this.#state.delete(key);
  }

  #prune(now: number): void {
    for (const [key, s] of this.#state) if (now - s.last > this.opts.capMs * 2) this.#state.delete(key);
  }
}
