import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import type { Backend, ByteRange, FileKind } from './backend/backend.js';
import { fetchBlobs, type WantedBlob } from './blob-fetch.js';
import { BLOB_DATA } from './crypto.js';

/** A backend holding packs in memory that records every ranged read (only `read` is used). */
function memoryBackend(packs: Map<string, Buffer>): { backend: Backend; reads: ByteRange[] } {
  const reads: ByteRange[] = [];
  const backend = {
    read: (_kind: FileKind, name: string, range?: ByteRange): Promise<Buffer> => {
      const pack = packs.get(name);
      if (!pack || !range) return Promise.reject(Object.assign(new Error('no such pack'), { code: 'NOT_FOUND' }));
      reads.push(range);
      if (range.offset + range.length > pack.length) return Promise.reject(Object.assign(new Error('the pack ends first'), { code: 'REPOSITORY_DAMAGED' }));
      return Promise.resolve(Buffer.from(pack.subarray(range.offset, range.offset + range.length)));
    },
  } as unknown as Backend;
  return { backend, reads };
}

function blob(pack: string, offset: number, length: number): WantedBlob {
  return { id: randomBytes(32), location: { type: BLOB_DATA, pack, offset, length, rawLength: length } };
}

/** The "opener" here returns the sealed bytes as they are, so a result shows which bytes a blob was given. */
const asIs = (_blob: WantedBlob, sealed: Buffer): Promise<Buffer> => Promise.resolve(Buffer.from(sealed));

describe('fetchBlobs', () => {
  it('reads neighbouring blobs of a pack in one read, in pack order, and gives each its own bytes', async () => {
    const pack = randomBytes(64 * 1024);
    const { backend, reads } = memoryBackend(new Map([['p1', pack]]));
    const wanted = [blob('p1', 9000, 500), blob('p1', 0, 1000), blob('p1', 1000, 4000)];
    const got = await fetchBlobs(backend, wanted, asIs);
    assert.deepEqual(reads, [{ offset: 0, length: 9500 }]);
    for (const w of wanted) assert.deepEqual(got.get(w.id.toString('hex')), pack.subarray(w.location.offset, w.location.offset + w.location.length));
  });

  it('reads a large blob alone, into a buffer of its own', async () => {
    const { backend, reads } = memoryBackend(new Map([['p1', randomBytes(1024 * 1024)]]));
    await fetchBlobs(backend, [blob('p1', 0, 100), blob('p1', 100, 512 * 1024), blob('p1', 100 + 512 * 1024, 100)], asIs);
    assert.equal(reads.length, 3);
  });

  it('reads far-apart blobs and blobs of different packs separately', async () => {
    const { backend, reads } = memoryBackend(new Map([['p1', randomBytes(8 * 1024 * 1024)], ['p2', randomBytes(1000)]]));
    await fetchBlobs(backend, [blob('p1', 0, 100), blob('p1', 5 * 1024 * 1024, 100), blob('p2', 0, 100)], asIs);
    assert.equal(reads.length, 3);
  });

  it('a pack cut short costs only the blobs it lacks; a failed open costs only its blob', async () => {
    const { backend } = memoryBackend(new Map([['p1', randomBytes(3000)]]));
    const whole = blob('p1', 0, 1000);
    const bad = blob('p1', 1000, 1000);
    const beyond = blob('p1', 2500, 1000);
    const got = await fetchBlobs(backend, [whole, bad, beyond], (b, sealed) => (b.id.equals(bad.id) ? Promise.reject(new Error('damaged')) : asIs(b, sealed)));
    assert.ok(got.get(whole.id.toString('hex')) instanceof Buffer);
    assert.match((got.get(bad.id.toString('hex')) as Error).message, /damaged/);
    assert.match((got.get(beyond.id.toString('hex')) as Error).message, /ends first/);
  });
});
