import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sealBlob } from './blob-codec.js';
import { BLOB_DATA, blobAad, blobId, newRepositoryKeys, sealParts, type BlobType } from './crypto.js';
import type { PackWriter } from './repository.js';
import { WorkerPool } from './worker-pool.js';

const keys = newRepositoryKeys();

function sealed(plain: Buffer): { id: Buffer; bytes: Buffer } {
  const id = blobId(keys.mac, BLOB_DATA, plain);
  return { id, bytes: Buffer.concat(sealBlob(keys, BLOB_DATA, id, plain)) };
}

test('verifyBlobs: each blob of a region sound or damaged; a fault that is not damage rejects the whole request', async () => {
  const pool = new WorkerPool(keys, undefined, 1);
  try {
    const plainA = Buffer.from('sound blob '.repeat(1000));
    const plainB = randomBytes(5000);
    const a = sealed(plainA);
    const b = sealed(plainB);
    const damagedB = Buffer.from(b.bytes);
    damagedB[100] = (damagedB[100] as number) ^ 1;
    const region = (second: Buffer): Buffer => Buffer.concat([Buffer.alloc(7), a.bytes, second]);
    const blobs = [
      { type: BLOB_DATA, id: a.id, offset: 7, length: a.bytes.length, rawLength: plainA.length },
      { type: BLOB_DATA, id: b.id, offset: 7 + a.bytes.length, length: b.bytes.length, rawLength: plainB.length },
    ];
    assert.deepEqual(await pool.verifyBlobs(region(b.bytes), blobs), [true, true]);

    const outcomes = await pool.verifyBlobs(region(damagedB), blobs);
    assert.equal(outcomes[0], true);
    assert.ok(outcomes[1] instanceof Error && (outcomes[1] as Error & { code?: string }).code === 'REPOSITORY_DAMAGED', String(outcomes[1]));
    assert.match((outcomes[1] as Error).message, /failed authentication/);

    // A blob of a type no reader knows opens (its seal is sound) but cannot be hashed: the worker's own fault, not damage.
    const odd = 7 as BlobType;
    const oddBytes = Buffer.concat(sealParts(keys.encryption, plainA, blobAad(odd, a.id)));
    await assert.rejects(
      pool.verifyBlobs(Buffer.concat([a.bytes, oddBytes]), [blobs[0] as (typeof blobs)[0], { type: odd, id: a.id, offset: a.bytes.length, length: oddBytes.length, rawLength: plainA.length }]),
      (err: Error & { code?: string }) => err.code === 'INTERNAL' && /a backup worker failed/.test(err.message),
    );
    await assert.rejects(pool.openBlob(odd, a.id, oddBytes, plainA.length), (err: Error & { code?: string }) => err.code === 'INTERNAL');
    await assert.rejects(pool.openBlob(BLOB_DATA, b.id, damagedB, plainB.length), (err: Error & { code?: string }) => err.code === 'REPOSITORY_DAMAGED');
    assert.deepEqual(await pool.openBlob(BLOB_DATA, a.id, a.bytes, plainA.length), plainA);
  } finally {
    await pool.close();
  }
});

test('close() with a job in hand leaves no file open: an agent lives on after a backup it gave up', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'bulwark-pool-'));
  const path = join(dir, 'big.bin');
  await writeFile(path, randomBytes(24 * 1024 * 1024));
  const openOnIt = async (): Promise<number> => {
    let n = 0;
    for (const fd of await readdir('/proc/self/fd')) if ((await readlink(`/proc/self/fd/${fd}`).catch(() => '')) === path) n++;
    return n;
  };
  // Storage that never takes the blobs: the worker waits for it part-way through the file.
  let added = 0;
  const stuck = { claim: () => true, addWritten: () => (added++, new Promise<boolean>(() => undefined)) } as unknown as PackWriter;
  const pool = new WorkerPool(keys, stuck, 1);
  try {
    const info = await stat(path);
    const result = pool.file({ path, display: path, inode: info.ino, device: info.dev, size: info.size });
    result.catch(() => undefined);
    for (let i = 0; i < 200 && added === 0; i++) await new Promise((r) => setTimeout(r, 25));
    assert.ok(added > 0, 'the worker sent blobs and now waits for storage');
    assert.equal(await openOnIt(), 1, 'the file is open in the worker');
  } finally {
    await pool.close();
  }
  assert.equal(await openOnIt(), 0, 'closing the pool closed the file');
  await rm(dir, { recursive: true, force: true });
});
