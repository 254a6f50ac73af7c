import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { BlobCompressor, compressIfSmaller, decompressTo } from './compress.js';

const BLOCK_RLE = 1;

function damaged(pattern: RegExp): (err: Error & { code?: string }) => boolean {
  return (err) => err.code === 'REPOSITORY_DAMAGED' && pattern.test(err.message);
}

/** A real database file: zstd cuts its frames into many small blocks, which a reader must accept. */
function databaseFile(): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-compress-'));
  try {
    const db = new Database(join(dir, 'x.db'));
    db.exec('create table t (id integer primary key, a text, b blob)');
    const insert = db.prepare('insert into t (a, b) values (?, ?)');
    for (let i = 0; i < 20_000; i++) insert.run(`row ${i} `.repeat(i % 7), Buffer.alloc(i % 300, i % 256));
    db.close();
    return readFileSync(join(dir, 'x.db'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('blobs round-trip through both compressors: text, a database file, zeros; random data is stored as it is', () => {
  const db = databaseFile();
  const samples = [Buffer.from('fleet backup '.repeat(50_000)), db.subarray(0, 1 << 20), db.subarray(db.length >> 1), Buffer.alloc(3 << 20), Buffer.from('tiny')];
  const compressor = new BlobCompressor();
  for (const data of samples) {
    const frame = compressIfSmaller(data);
    assert.ok(frame.length < data.length || data.length < 64, `${data.length} bytes compress`);
    assert.deepEqual(decompressTo(frame, data.length, 'blob'), data);
    const reused = compressor.compress(data);
    assert.deepEqual(decompressTo(Buffer.from(reused), data.length, 'blob'), data);
  }
  const random = randomBytes(1 << 20);
  assert.equal(compressIfSmaller(random), random, 'incompressible data comes back unchanged');
  assert.equal(compressor.compress(random), random);
  assert.equal(decompressTo(random, random.length, 'blob'), random, 'a blob as long as its plaintext is stored raw');
});

test('decompressTo never writes past the recorded size: a crafted frame, a wrong size, garbage', () => {
  const data = Buffer.from('fleet backup '.repeat(20_000));
  const frame = compressIfSmaller(data);
  assert.throws(() => decompressTo(frame, data.length - 1, 'blob z'), damaged(/blob z could not be decompressed to its recorded size/));
  assert.throws(() => decompressTo(frame, data.length + 1, 'blob w'), damaged(/blob w decompressed to 260000 bytes, not the 260001 recorded/));
  assert.throws(() => decompressTo(Buffer.alloc(data.length + 1), data.length, 'blob v'), damaged(/blob v is longer than its recorded size/));
  assert.throws(() => decompressTo(Buffer.from('not a frame at all'), 1000, 'blob u'), damaged(/blob u could not be decompressed/));
  // Bulwark writes exactly one frame: two frames, or a skippable frame after one, are not a blob it wrote.
  const half = Buffer.from('fleet backup '.repeat(10_000));
  assert.throws(() => decompressTo(Buffer.concat([compressIfSmaller(half), compressIfSmaller(half)]), data.length, 'blob t'), damaged(/blob t could not be decompressed/));
  const skippable = Buffer.from([0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 1, 2, 3, 4]);
  assert.throws(() => decompressTo(Buffer.concat([frame, skippable]), data.length, 'blob s'), damaged(/blob s could not be decompressed/));
  // 256 bytes of RLE blocks that would inflate to 128 MiB, against a recorded 1,000 bytes.
  const header = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x58]);
  const blocks = Array.from({ length: 64 }, (_, i) => {
    const rle = Buffer.alloc(4);
    rle.writeUIntLE((((1 << 21) - 1) << 3) | (BLOCK_RLE << 1) | (i === 63 ? 1 : 0), 0, 3);
    rle[3] = 0x41;
    return rle;
  });
  assert.throws(() => decompressTo(Buffer.concat([header, ...blocks]), 1000, 'blob y'), damaged(/blob y could not be decompressed to its recorded size/));
});
