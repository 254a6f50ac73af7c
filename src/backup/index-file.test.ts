import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { describe, it } from 'node:test';
import { fileAad, seal, SEAL_OVERHEAD, type BlobType } from './crypto.js';
import { decodeIndex, encodeIndex, type IndexPack } from './index-file.js';

const key = randomBytes(32);
const damaged = { code: 'REPOSITORY_DAMAGED' };

function somePacks(packs: number, blobsEach: (p: number) => number): IndexPack[] {
  return Array.from({ length: packs }, (_, p) => {
    let offset = 0;
    const blobs = Array.from({ length: blobsEach(p) }, (_, i) => {
      const length = randomInt(28, 1 << 20);
      const blob = { type: (i % 3 === 0 ? 1 : 0) as BlobType, id: randomBytes(32), offset, length, rawLength: randomInt(0, 2 ** 32) };
      offset += length;
      return blob;
    });
    return { id: randomBytes(32), blobs };
  });
}

/** Seals an index plaintext built by hand, so the decoder (not the authentication) must catch what is wrong. */
function sealedPlain(parts: Buffer[], name = 'i1'): Buffer {
  return seal(key, Buffer.concat(parts), fileAad('index', name));
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

function blobRecord(type: number): Buffer {
  const b = Buffer.alloc(45);
  b[0] = type;
  b.writeUInt32LE(0, 1);
  b.writeUInt32LE(100, 5);
  b.writeUInt32LE(72, 9);
  randomBytes(32).copy(b, 13);
  return b;
}

describe('index files', () => {
  it('round-trip many packs and blobs, including a pack with no blobs', () => {
    const packs = somePacks(40, (p) => (p === 7 ? 0 : 1 + ((p * 37) % 120)));
    const sealed = encodeIndex(key, packs, 'i1');
    const blobs = packs.reduce((n, p) => n + p.blobs.length, 0);
    assert.equal(sealed.length, SEAL_OVERHEAD + 8 + packs.length * 36 + blobs * 45);
    assert.deepEqual(decodeIndex(key, sealed, 'i1'), packs);
  });

  it('round-trips an index of no packs', () => {
    assert.deepEqual(decodeIndex(key, encodeIndex(key, [], 'i1'), 'i1'), []);
  });

  it('keeps the largest offsets and lengths a u32 holds', () => {
    const packs: IndexPack[] = [{ id: randomBytes(32), blobs: [{ type: 0, id: randomBytes(32), offset: 0xffffffff, length: 0xffffffff, rawLength: 0xffffffff }] }];
    assert.deepEqual(decodeIndex(key, encodeIndex(key, packs, 'i1'), 'i1'), packs);
  });

  it('refuses a sealed index that lost or gained bytes, or had one flipped', () => {
    const sealed = encodeIndex(key, somePacks(2, () => 3), 'i1');
    assert.throws(() => decodeIndex(key, sealed.subarray(0, sealed.length - 1), 'i1'), damaged);
    assert.throws(() => decodeIndex(key, sealed.subarray(0, 10), 'i1'), damaged);
    assert.throws(() => decodeIndex(key, Buffer.concat([sealed, Buffer.from([0])]), 'i1'), damaged);
    const flipped = Buffer.from(sealed);
    flipped[40] = (flipped[40] as number) ^ 1;
    assert.throws(() => decodeIndex(key, flipped, 'i1'), damaged);
  });

  it('refuses plaintext cut short: in the header, a pack record or a blob record', () => {
    const magic = Buffer.from('BWI1');
    const cases: Record<string, Buffer[]> = {
      'no count': [magic],
      'count without packs': [magic, u32(1)],
      'pack id cut': [magic, u32(1), randomBytes(20)],
      'blob count without blobs': [magic, u32(1), randomBytes(32), u32(2), blobRecord(0)],
      'blob record cut': [magic, u32(1), randomBytes(32), u32(1), blobRecord(0).subarray(0, 44)],
      'second pack missing': [magic, u32(2), randomBytes(32), u32(1), blobRecord(0)],
      'huge blob count': [magic, u32(1), randomBytes(32), u32(0xffffffff)],
      'huge pack count': [magic, u32(0xffffffff)],
    };
    for (const [what, parts] of Object.entries(cases)) {
      assert.throws(() => decodeIndex(key, sealedPlain(parts, 'i-77'), 'i-77'), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'REPOSITORY_DAMAGED', what);
        assert.match(err.message, /index i-77 is malformed/);
        return true;
      });
    }
  });

  it('refuses trailing bytes after the last pack', () => {
    const good = [Buffer.from('BWI1'), u32(1), randomBytes(32), u32(1), blobRecord(1)];
    assert.equal(decodeIndex(key, sealedPlain(good), 'i1').length, 1);
    assert.throws(() => decodeIndex(key, sealedPlain([...good, Buffer.from([0])]), 'i1'), damaged);
    assert.throws(() => decodeIndex(key, sealedPlain([...good, blobRecord(0)]), 'i1'), damaged);
  });

  it('refuses a wrong magic and a blob of unknown type', () => {
    assert.throws(() => decodeIndex(key, sealedPlain([Buffer.from('BWP1'), u32(0)]), 'i1'), damaged);
    for (const type of [2, 7, 255]) {
      assert.throws(() => decodeIndex(key, sealedPlain([Buffer.from('BWI1'), u32(1), randomBytes(32), u32(1), blobRecord(type)]), 'i1'), damaged);
    }
  });

  it('a file sealed as a snapshot (or pack header) cannot be opened as an index, even with a valid index inside', () => {
    const plain = [Buffer.from('BWI1'), u32(0)];
    for (const kind of ['snapshot', 'pack-header', 'config', 'lock'] as const) {
      assert.throws(() => decodeIndex(key, seal(key, Buffer.concat(plain), fileAad(kind, 'i1')), 'i1'), damaged);
    }
  });

  it('refuses an index file renamed to another name', () => {
    const sealed = encodeIndex(key, somePacks(1, () => 1), 'i1');
    assert.throws(() => decodeIndex(key, sealed, 'i2'), damaged);
  });

  it('refuses an index sealed under another key', () => {
    assert.throws(() => decodeIndex(randomBytes(32), encodeIndex(key, somePacks(1, () => 1), 'i1'), 'i1'), damaged);
  });
});
