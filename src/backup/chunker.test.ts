import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, createHash } from 'node:crypto';
import { BulwarkError } from '../core/errors.js';
import { CHUNK_SIZES, Chunker, gearTable } from './chunker.js';
import type { ChunkSizes } from './chunker.js';

const MiB = 1024 * 1024;
const SMALL: ChunkSizes = { min: 2048, avg: 8192, max: 65536 };
const TINY: ChunkSizes = { min: 64, avg: 256, max: 1024 };

/** Reproducible pseudo-random bytes: AES-256-CTR keystream under a key named by `label`. */
function pseudoRandom(length: number, label: string): Uint8Array {
  const key = createHash('sha256').update(label).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  return new Uint8Array(cipher.update(Buffer.alloc(length)));
}

function seed(label: string): Uint8Array {
  return createHash('sha256').update(label).digest();
}

/** A small deterministic generator for split points (xorshift32). */
function splitter(state: number): (bound: number) => number {
  return (bound) => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) % bound;
  };
}

function chunkAll(table: Uint32Array, data: Uint8Array, sizes: ChunkSizes = CHUNK_SIZES): number[] {
  const chunker = new Chunker(table, sizes);
  const lengths = chunker.push(data);
  const last = chunker.finish();
  if (last !== undefined) lengths.push(last);
  return lengths;
}

/**
 * The algorithm exactly as the comment at the top of chunker.ts states it, written plainly
 * (unsigned arithmetic, one chunk at a time) to hold the fast implementation to the spec.
 */
function referenceChunks(table: Uint32Array, data: Uint8Array, sizes: ChunkSizes): number[] {
  const bits = Math.log2(sizes.avg);
  const maskS = 2 ** 32 - 2 ** (32 - (bits + 2));
  const maskL = 2 ** 32 - 2 ** (32 - (bits - 2));
  const lengths: number[] = [];
  let start = 0;
  while (start < data.length) {
    const remaining = data.length - start;
    let length = Math.min(remaining, sizes.max);
    let h = 0;
    for (let p = sizes.min; p < Math.min(remaining, sizes.max); p++) {
      h = (h * 2 + table[data[start + p]!]!) % 2 ** 32;
      if ((h & (p < sizes.avg ? maskS : maskL)) === 0) {
        length = p + 1;
        break;
      }
    }
    lengths.push(length);
    start += length;
  }
  return lengths;
}

function chunkDigests(data: Uint8Array, lengths: number[]): string[] {
  const digests: string[] = [];
  let offset = 0;
  for (const length of lengths) {
    digests.push(createHash('sha256').update(data.subarray(offset, offset + length)).digest('hex'));
    offset += length;
  }
  return digests;
}

const sum = (values: number[]): number => values.reduce((a, b) => a + b, 0);

describe('gearTable', () => {
  it('derives a fixed table from the seed (part of the repository format)', () => {
    const table = gearTable(Uint8Array.from({ length: 32 }, (_, i) => i));
    assert.equal(table.length, 256);
    assert.deepEqual(Array.from(table.subarray(0, 4)), [0x234a5b08, 0x74420404, 0xc2beff8c, 0x2a38db4c]);
    assert.equal(
      createHash('sha256').update(Buffer.from(table.buffer, table.byteOffset, table.byteLength)).digest('hex'),
      '044d2fd5f7f2629c144f745173229bb37b82b72adf7613f6e1a9829a59c0dd64',
    );
  });

  it('gives a different table for a different seed, the same for the same', () => {
    assert.deepEqual(gearTable(seed('a')), gearTable(seed('a')));
    assert.notDeepEqual(gearTable(seed('a')), gearTable(seed('b')));
  });

  it('rejects a seed that is not 32 bytes', () => {
    assert.throws(() => gearTable(new Uint8Array(16)), (err: unknown) => err instanceof BulwarkError && err.code === 'BAD_REQUEST');
  });
});

describe('Chunker', () => {
  const table = gearTable(seed('repository one'));

  it('cuts where a plain reading of the documented algorithm cuts', () => {
    for (const [sizes, length] of [[SMALL, 4 * MiB], [TINY, 256 * 1024]] as const) {
      const data = pseudoRandom(length, `reference ${sizes.avg}`);
      const expected = referenceChunks(table, data, sizes);
      assert.ok(expected.length > 100);
      assert.deepEqual(chunkAll(table, data, sizes), expected);
    }
  });

  it('cuts a fixed input at fixed places with the default sizes (format test vector)', () => {
    const data = pseudoRandom(24 * MiB, 'bulwark chunker test vector');
    const lengths = chunkAll(gearTable(Uint8Array.from({ length: 32 }, (_, i) => i)), data);
    assert.deepEqual(lengths, [
      1246205, 1754653, 1156936, 1249184, 1052930, 1467731, 1485897, 1333408, 1217658, 1093296,
      1275763, 1131091, 1066583, 1196657, 1138046, 1721155, 1209451, 1241578, 1398257, 729345,
    ]);
  });

  it('gives the same boundaries for the same data and seed, other boundaries for another seed', () => {
    const data = pseudoRandom(32 * MiB, 'determinism');
    const first = chunkAll(table, data);
    assert.deepEqual(chunkAll(gearTable(seed('repository one')), data), first);
    const other = chunkAll(gearTable(seed('repository two')), data);
    assert.equal(sum(other), data.length);
    assert.notDeepEqual(other, first);
  });

  it('finds the same boundaries however the stream is split', () => {
    const data = pseudoRandom(40 * MiB, 'split');
    const whole = chunkAll(table, data);
    const next = splitter(0x9e3779b9);
    for (let round = 0; round < 3; round++) {
      const chunker = new Chunker(table);
      const lengths: number[] = [];
      for (let offset = 0; offset < data.length; ) {
        // Mostly small and odd sizes, sometimes several MiB, sometimes nothing at all.
        const size = next(4) === 0 ? next(3 * MiB) : next(70_000);
        lengths.push(...chunker.push(data.subarray(offset, offset + size)));
        offset += size;
      }
      const last = chunker.finish();
      if (last !== undefined) lengths.push(last);
      assert.deepEqual(lengths, whole);
    }
  });

  it('finds the same boundaries when fed one byte at a time', () => {
    const data = pseudoRandom(64 * 1024, 'bytewise');
    const whole = chunkAll(table, data, TINY);
    assert.ok(whole.length > 50);
    const chunker = new Chunker(table, TINY);
    const lengths: number[] = [];
    for (let i = 0; i < data.length; i++) lengths.push(...chunker.push(data.subarray(i, i + 1)));
    const last = chunker.finish();
    if (last !== undefined) lengths.push(last);
    assert.deepEqual(lengths, whole);
  });

  it('keeps every chunk but the last between min and max, averaging near avg', () => {
    const data = pseudoRandom(64 * MiB, 'sizes');
    const lengths = chunkAll(table, data);
    assert.equal(sum(lengths), data.length);
    for (const length of lengths.slice(0, -1)) {
      assert.ok(length > CHUNK_SIZES.min && length <= CHUNK_SIZES.max, `chunk of ${length} bytes`);
    }
    const average = data.length / lengths.length;
    assert.ok(average >= 0.6 * CHUNK_SIZES.avg && average <= 1.6 * CHUNK_SIZES.avg, `average ${average}`);
  });

  it('cuts at max when the content never gives a boundary', () => {
    const lengths = chunkAll(table, new Uint8Array(20 * MiB));
    assert.deepEqual(lengths, [CHUNK_SIZES.max, CHUNK_SIZES.max, 4 * MiB]);
  });

  it('changes only the chunks around an insertion', () => {
    const before = pseudoRandom(32 * MiB, 'insertion');
    const middle = 16 * MiB + 12345;
    const after = new Uint8Array(before.length + 100);
    after.set(before.subarray(0, middle));
    after.set(pseudoRandom(100, 'inserted'), middle);
    after.set(before.subarray(middle), middle + 100);

    const old = chunkDigests(before, chunkAll(table, before));
    const updated = chunkDigests(after, chunkAll(table, after));
    const oldSet = new Set(old);
    const updatedSet = new Set(updated);
    const added = updated.filter((digest) => !oldSet.has(digest));
    const lost = old.filter((digest) => !updatedSet.has(digest));
    assert.ok(added.length >= 1 && added.length <= 2, `${added.length} new chunks`);
    assert.ok(lost.length >= 1 && lost.length <= 2, `${lost.length} lost chunks`);
    // The unchanged chunks are the leading and trailing runs, in order.
    let prefix = 0;
    while (old[prefix] === updated[prefix]) prefix++;
    let suffix = 0;
    while (old[old.length - 1 - suffix] === updated[updated.length - 1 - suffix]) suffix++;
    assert.equal(prefix + suffix + lost.length, old.length);
    assert.equal(prefix + suffix + added.length, updated.length);
  });

  it('makes one chunk of an input shorter than min, none of an empty input', () => {
    const chunker = new Chunker(table);
    assert.deepEqual(chunker.push(pseudoRandom(1000, 'short')), []);
    assert.deepEqual(chunker.push(pseudoRandom(CHUNK_SIZES.min - 1000, 'short 2')), []);
    assert.equal(chunker.finish(), CHUNK_SIZES.min);

    assert.deepEqual(chunker.push(new Uint8Array(0)), []);
    assert.equal(chunker.finish(), undefined);
    assert.equal(new Chunker(table).finish(), undefined);
  });

  it('starts afresh after finish', () => {
    const data = pseudoRandom(8 * MiB, 'reuse');
    const chunker = new Chunker(table);
    chunker.push(data.subarray(0, 3 * MiB + 7));
    chunker.finish();
    const lengths = chunker.push(data);
    const last = chunker.finish();
    if (last !== undefined) lengths.push(last);
    assert.deepEqual(lengths, chunkAll(table, data));
  });

  it('rejects a table of the wrong size and inconsistent sizes', () => {
    const isBadRequest = (err: unknown): boolean => err instanceof BulwarkError && err.code === 'BAD_REQUEST';
    assert.throws(() => new Chunker(new Uint32Array(255)), isBadRequest);
    assert.throws(() => new Chunker(table, { min: 4096, avg: 4096, max: 65536 }), isBadRequest);
    assert.throws(() => new Chunker(table, { min: 1024, avg: 5000, max: 65536 }), isBadRequest);
    assert.throws(() => new Chunker(table, { min: 1024, avg: 4096, max: 4096 }), isBadRequest);
    assert.throws(() => new Chunker(table, { min: 0, avg: 4096, max: 8192 }), isBadRequest);
  });
});
