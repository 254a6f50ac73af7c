import type { Clock } from './clock.js';
import { BulwarkError } from './errors.js';

/**
 * Counts failures per key (a source address, an account) in a sliding window and
 * says how long a key must wait once it has failed too often. Memory stays bounded
 * by a hard cap on keys: the map is kept in order of last failure, so stale keys
 * and, past the cap, the least recently failing ones are dropped from its front —
 * never by scanning the whole map.
 */
export class FailureLimiter {
  readonly #failures = new Map<string, number[]>();
  /**
   * Keys in the order of their failures, oldest first, each with the time it
   * failed then. An entry is current while it matches its key's last failure;
   * older entries of a key that failed again are skipped when reached. Eviction
   * pops from the front, so each failure costs O(1) amortised however many keys
   * an attacker spreads failures over (iterating a Map from its front after
   * many deletions does not: it steps over every deleted slot each time).
   */
  #order: { key: string; at: number }[] = [];
  #head = 0;
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

  /** Entries of the failure order not yet consumed (tests: it stays proportional to `size`). */
  get orderLength(): number {
    return this.#order.length - this.#head;
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
    const now = this.#clock.now();
    recent.push(now);
    // Only the last `max` failures decide the wait: an attacker cannot grow one key's list.
    if (recent.length > this.#max) recent.splice(0, recent.length - this.#max);
    this.#failures.set(key, recent);
    this.#order.push({ key, at: now });
    this.#evict();
    this.#compact();
  }

  #recent(key: string): number[] {
    const cutoff = this.#clock.now() - this.#windowMs;
    return (this.#failures.get(key) ?? []).filter((t) => t > cutoff);
  }

  #isCurrent(entry: { key: string; at: number }): boolean {
    const times = this.#failures.get(entry.key);
    return times !== undefined && times[times.length - 1] === entry.at;
  }

  /** Drops stale keys from the front, then the least recently failing ones past the cap: O(dropped). */
  #evict(): void {
    const cutoff = this.#clock.now() - this.#windowMs;
    while (this.#head < this.#order.length) {
      const entry = this.#order[this.#head];
      if (entry === undefined) break;
      if (!this.#isCurrent(entry)) {
        this.#head++;
        continue;
      }
      if (this.#failures.size <= this.#maxKeys && entry.at > cutoff) break;
      this.#failures.delete(entry.key);
      this.#head++;
    }
  }

  /** Rebuilds the order once superseded entries outnumber live keys, so it stays O(keys). */
  #compact(): void {
    if (this.#head > 1024 && this.#head * 2 > this.#order.length) {
      this.#order = this.#order.slice(this.#head);
      this.#head = 0;
    }
    if (this.orderLength > 2 * this.#failures.size + 1024) {
      this.#order = this.#order.slice(this.#head).filter((e) => this.#isCurrent(e));
      this.#head = 0;
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

/**
 * Caps the operations one key (a caller) has in flight at once. `acquire`
 * returns the release (safe to call twice), or throws RATE_LIMITED naming what
 * is capped; keys with nothing in flight take no memory.
 */
export class ConcurrencyLimiter {
  readonly #inFlight = new Map<string, number>();

  constructor(private readonly opts: { max: number; what: string }) {}

  acquire(key: string): () => void {
    const now = this.#inFlight.get(key) ?? 0;
    if (now >= this.opts.max) {
      throw new BulwarkError('RATE_LIMITED', `you have ${this.opts.max} ${this.opts.what} in flight already; wait for one to finish`, { retryAfterMs: 5000 });
    }
    this.#inFlight.set(key, now + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.#inFlight.get(key) ?? 1) - 1;
      if (left <= 0) this.#inFlight.delete(key);
      else this.#inFlight.set(key, left);
    };
  }

  /** Operations of `key` in flight now. */
  count(key: string): number {
    return this.#inFlight.get(key) ?? 0;
  }
}
