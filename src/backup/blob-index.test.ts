import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { BulwarkError } from '../core/errors.js';
import { BlobIndex } from './blob-index.js';
import type { BlobIndexEntry } from './blob-index.js';

/** A distinct, checkable location for entry number n. */
function locationOf(n: number): BlobIndexEntry {
  return { type: (n % 2) as 0 | 1, pack: n >>> 3, offset: (n * 2654435761) >>> 0, length: n + 1, rawLength: 0xffffffff - n };
}

const isBadRequest = (err: unknown): boolean => err instanceof BulwarkError && err.code === 'BAD_REQUEST';

describe('BlobIndex', () => {
  it('finds each of a million random ids and misses ids it never saw', () => {
    const count = 1_000_000;
    const ids = new Uint8Array(randomBytes(count * 32));
    const index = new BlobIndex();
    for (let n = 0; n < count; n++) assert.equal(index.add(ids.subarray(n * 32, n * 32 + 32), locationOf(n)), true);
    assert.equal(index.size, count);

    for (let n = 0; n < count; n++) {
      const id = ids.subarray(n * 32, n * 32 + 32);
      const found = index.get(id);
      if (found === undefined || found.offset !== locationOf(n).offset || found.rawLength !== locationOf(n).rawLength || !index.has(id)) {
        assert.deepEqual(found, locationOf(n), `entry ${n}`);
      }
    }
    assert.deepEqual(index.get(ids.subarray(32 * 777, 32 * 778)), locationOf(777));

    const missing = new Uint8Array(randomBytes(10_000 * 32));
    for (let n = 0; n < 10_000; n++) {
      const id = missing.subarray(n * 32, n * 32 + 32);
      assert.equal(index.has(id), false);
      assert.equal(index.get(id), undefined);
    }
    // Same first bytes (same slot) as a stored id, different elsewhere: still a miss.
    const nearMiss = ids.slice(0, 32);
    nearMiss[31]! ^= 1;
    assert.equal(index.has(nearMiss), false);

    const perEntry = index.byteSize / count;
    assert.ok(perEntry > 49 && perEntry < 70, `${perEntry} bytes per entry`);
  });

  it('keeps the first location of an id added twice', () => {
    const index = new BlobIndex();
    const id = new Uint8Array(randomBytes(32));
    assert.equal(index.add(id, locationOf(1)), true);
    assert.equal(index.add(Uint8Array.from(id), locationOf(2)), false);
    assert.equal(index.size, 1);
    assert.deepEqual(index.get(id), locationOf(1));
    assert.equal([...index.entries()].length, 1);
  });

  it('copies the id it is given', () => {
    const index = new BlobIndex();
    const id = new Uint8Array(randomBytes(32));
    const kept = Uint8Array.from(id);
    index.add(id, locationOf(5));
    id.fill(0);
    assert.deepEqual(index.get(kept), locationOf(5));
    assert.equal(index.has(id), false);
  });

  it('keeps every entry through growth, including ids that share their first bytes', () => {
    const index = new BlobIndex();
    const ids: Uint8Array[] = [];
    for (let n = 0; n < 50_000; n++) {
      const id = new Uint8Array(randomBytes(32));
      // Every fourth id collides with the previous one in the bytes that pick the slot.
      if (n % 4 === 3) id.set(ids[n - 1]!.subarray(0, 4));
      ids.push(id);
      index.add(id, locationOf(n));
      if (n === 300 || n === 20_000) {
        for (let m = 0; m <= n; m++) assert.deepEqual(index.get(ids[m]!), locationOf(m));
      }
    }
    for (const [n, id] of ids.entries()) assert.deepEqual(index.get(id), locationOf(n));
    assert.equal(index.size, ids.length);
  });

  it('yields every entry exactly once, in the order added', () => {
    const index = new BlobIndex();
    const count = 40_000;
    const ids = new Uint8Array(randomBytes(count * 32));
    for (let n = 0; n < count; n++) index.add(ids.subarray(n * 32, n * 32 + 32), locationOf(n));
    index.add(ids.subarray(0, 32), locationOf(99));

    let n = 0;
    for (const { id, ...location } of index.entries()) {
      assert.deepEqual(id, ids.subarray(n * 32, n * 32 + 32));
      assert.deepEqual(location, locationOf(n));
      n++;
    }
    assert.equal(n, count);
    assert.deepEqual([...new BlobIndex().entries()], []);
  });

  it('rejects malformed ids and locations', () => {
    const index = new BlobIndex();
    assert.throws(() => index.add(new Uint8Array(31), locationOf(0)), isBadRequest);
    assert.throws(() => index.get(new Uint8Array(33)), isBadRequest);
    assert.throws(() => index.has(new Uint8Array(0)), isBadRequest);
    const id = new Uint8Array(32);
    for (const bad of [
      { ...locationOf(0), type: 2 },
      { ...locationOf(0), pack: -1 },
      { ...locationOf(0), offset: 2 ** 32 },
      { ...locationOf(0), length: 1.5 },
      { ...locationOf(0), rawLength: Number.NaN },
    ]) {
      assert.throws(() => index.add(id, bad as BlobIndexEntry), isBadRequest);
    }
    assert.equal(index.size, 0);
  });

  it('stays small when empty', () => {
    assert.ok(new BlobIndex().byteSize <= 8192);
  });
});
