import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { compress } from '@mongodb-js/zstd';
import { compressIfSmaller, decompressTo } from './compress.js';
import { zstdOutputBound } from './zstd-frame.js';

const BLOCK_RLE = 1;

test('the bound of a frame Bulwark writes covers its content and stays close to it', async () => {
  for (const data of [Buffer.alloc(100, 'a'), Buffer.from('hello '.repeat(50_000)), Buffer.concat([randomBytes(300_000), Buffer.alloc(2_000_000, 7)]), randomBytes(1 << 20)]) {
    const frame = await compress(data, 3);
    const bound = zstdOutputBound(frame, 'blob');
    assert.ok(bound >= data.length, `${bound} >= ${data.length}`);
    assert.ok(bound <= data.length + 128 * 1024, `${bound} is at most one block over ${data.length}`);
  }
});

test('a crafted frame: an RLE block claiming far more, trailing bytes, or a truncated frame', () => {
  // Magic, descriptor (single segment, no size flag → 1 size byte), size byte, then one last RLE block of 2^21-1 bytes.
  const header = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x20, 0x10]);
  const rle = Buffer.alloc(4);
  rle.writeUIntLE((((1 << 21) - 1) << 3) | (BLOCK_RLE << 1) | 1, 0, 3);
  rle[3] = 0x41;
  const bomb = Buffer.concat([header, rle]);
  assert.equal(zstdOutputBound(bomb, 'blob'), (1 << 21) - 1, 'the claim is read, so the caller can refuse it against the recorded size');
  assert.throws(() => zstdOutputBound(Buffer.concat([bomb, Buffer.from([0])]), 'blob'), { code: 'REPOSITORY_DAMAGED' });
  assert.throws(() => zstdOutputBound(bomb.subarray(0, 8), 'blob'), { code: 'REPOSITORY_DAMAGED' });
  assert.throws(() => zstdOutputBound(Buffer.from('not a frame at all'), 'blob'), /not a zstd frame/);
});

test('decompressTo refuses a frame whose blocks claim more than the recorded size, before decompressing it', async () => {
  const data = Buffer.from('fleet backup '.repeat(20_000));
  const frame = await compressIfSmaller(data);
  assert.deepEqual(await decompressTo(frame, data.length, 'blob x'), data);
  const header = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x20, 0x10]);
  const blocks = Array.from({ length: 64 }, (_, i) => {
    const rle = Buffer.alloc(4);
    rle.writeUIntLE((((1 << 21) - 1) << 3) | (BLOCK_RLE << 1) | (i === 63 ? 1 : 0), 0, 3);
    rle[3] = 0x41;
    return rle;
  });
  // 256 bytes that would inflate to 128 MiB.
  await assert.rejects(decompressTo(Buffer.concat([header, ...blocks]), 1000, 'blob y'), (err: Error & { code?: string }) => err.code === 'REPOSITORY_DAMAGED' && /blob y would decompress to more than its recorded size/.test(err.message));
});
