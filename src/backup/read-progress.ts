/**
 * How far the backup workers are through each batch of small files, shared with
 * the read-ahead thread (read-ahead.ts) through memory both can see: the
 * read-ahead skips what a worker has begun, so it never reads behind them.
 * A ring of slots, one per batch number modulo its size; each slot holds the
 * batch's number + 1 and how many of its files a worker has begun.
 */
export const PROGRESS_SLOTS = 1024;

export function progressRing(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(PROGRESS_SLOTS * 2 * Int32Array.BYTES_PER_ELEMENT));
}

/** A worker begins file `index` of batch `seq`. */
export function markStarted(ring: Int32Array, seq: number, index: number): void {
  const at = (seq % PROGRESS_SLOTS) * 2;
  if (Atomics.load(ring, at) !== seq + 1) {
    // Count first: a reader that sees the new number must not pair it with the old batch's count.
    Atomics.store(ring, at + 1, 0);
    Atomics.store(ring, at, seq + 1);
  }
  Atomics.store(ring, at + 1, index + 1);
}

/**
 * Files of batch `seq` a worker has begun: 0 when none has, Infinity when the
 * slot has moved on to a later batch (this one is long done).
 */
export function startedCount(ring: Int32Array, seq: number): number {
  const at = (seq % PROGRESS_SLOTS) * 2;
  const tag = Atomics.load(ring, at);
  if (tag === seq + 1) return Atomics.load(ring, at + 1);
  return tag > seq + 1 ? Infinity : 0;
}
