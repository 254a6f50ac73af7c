import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { writeSparse } from './sparse-write.js';

/** Records the writes made, as [file offset, bytes]. */
function recorder(): { writes: [number, number][]; write: (b: Buffer, o: number, l: number, p: number) => Promise<number> } {
  const writes: [number, number][] = [];
  return { writes, write: (_b, _o, length, position) => (writes.push([position, length]), Promise.resolve(length)) };
}

describe('writeSparse', () => {
  it('skips whole zero blocks (aligned to the file) and reports how far the data reaches', async () => {
    const data = Buffer.alloc(3 * 4096);
    data[10] = 1; // block 0 of the data: file 4096..8192
    data[3 * 4096 - 1] = 1; // the last block
    const { writes, write } = recorder();
    const reached = await writeSparse(write, data, 4096);
    assert.deepEqual(writes, [
      [4096, 4096],
      [4096 + 2 * 4096, 4096],
    ]);
    assert.equal(reached, 4096 + 3 * 4096);
  });

  it('writes nothing for all zeros and returns the position; an unaligned start keeps holes on block edges', async () => {
    const { writes, write } = recorder();
    assert.equal(await writeSparse(write, Buffer.alloc(10000), 100), 100);
    assert.deepEqual(writes, []);
    const data = Buffer.alloc(8000);
    data[0] = 1; // file offset 100, in the block 0..4096
    const again = recorder();
    assert.equal(await writeSparse(again.write, data, 100), 4096);
    assert.deepEqual(again.writes, [[100, 3996]]);
  });
});
