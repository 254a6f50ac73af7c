import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { BLOB_DATA, BLOB_TREE, fileAad, seal, SEAL_OVERHEAD, type BlobType } from './crypto.js';
import { decodePackHeader, encodePackHeader, headerRange, type PackEntry } from './pack.js';

const key = randomBytes(32);
const damaged = { code: 'REPOSITORY_DAMAGED' };

/** A pack of random "sealed blobs" of the given lengths, as the pack writer lays it out. */
function makePack(specs: readonly { type: BlobType; length: number; rawLength: number }[]): { pack: Buffer; entries: PackEntry[] } {
  const entries: PackEntry[] = [];
  const blobs: Buffer[] = [];
  let offset = 0;
  for (const s of specs) {
    entries.push({ type: s.type, id: randomBytes(32), offset, length: s.length, rawLength: s.rawLength });
    blobs.push(randomBytes(s.length));
    offset += s.length;
  }
  return { pack: Buffer.concat([...blobs, encodePackHeader(key, entries)]), entries };
}

/** Reads a pack as a reader would: the tail, then the header it points to. */
function readHeader(pack: Buffer, name = 'p1', withKey: Uint8Array = key): PackEntry[] {
  const { offset, length } = headerRange(pack.length, pack.subarray(pack.length - 4), name);
  return decodePackHeader(withKey, pack.subarray(offset, offset + length), offset, name);
}

/** A pack whose header plaintext is given as is (sealed properly), after `dataBytes` of blobs. */
function packWithPlainHeader(plain: Buffer, dataBytes: number): Buffer {
  const sealed = seal(key, plain, fileAad('pack-header'));
  const tail = Buffer.alloc(4);
  tail.writeUInt32LE(sealed.length);
  return Buffer.concat([randomBytes(dataBytes), sealed, tail]);
}

function headerEntry(type: number, length: number, rawLength: number): Buffer {
  const e = Buffer.alloc(41);
  e[0] = type;
  e.writeUInt32LE(length, 1);
  e.writeUInt32LE(rawLength, 5);
  randomBytes(32).copy(e, 9);
  return e;
}

describe('pack header', () => {
  it('round-trips several entries and computes their offsets', () => {
    const { pack, entries } = makePack([
      { type: BLOB_DATA, length: 100, rawLength: 72 },
      { type: BLOB_TREE, length: 29, rawLength: 1 },
      { type: BLOB_DATA, length: 4096, rawLength: 9000 },
      { type: BLOB_DATA, length: 28, rawLength: 0 },
    ]);
    const decoded = readHeader(pack);
    assert.deepEqual(decoded, entries);
    assert.deepEqual(
      decoded.map((e) => e.offset),
      [0, 100, 129, 4225],
    );
    // Each entry points at its own bytes.
    const last = decoded.at(-1) as PackEntry;
    const { offset } = headerRange(pack.length, pack.subarray(-4), 'p1');
    assert.equal(last.offset + last.length, offset);
  });

  it('encodes to seal(4 + 41 per entry) plus a 4-byte length', () => {
    const { pack } = makePack([
      { type: BLOB_DATA, length: 50, rawLength: 50 },
      { type: BLOB_DATA, length: 60, rawLength: 60 },
    ]);
    const tail = pack.readUInt32LE(pack.length - 4);
    assert.equal(tail, SEAL_OVERHEAD + 4 + 2 * 41);
    assert.equal(pack.length, 110 + tail + 4);
  });

  it('round-trips an empty pack (a header with no entries)', () => {
    const { pack } = makePack([]);
    assert.deepEqual(readHeader(pack), []);
  });

  it('refuses a header length that points outside the file', () => {
    const { pack } = makePack([{ type: BLOB_DATA, length: 64, rawLength: 64 }]);
    const tail = Buffer.alloc(4);
    for (const length of [pack.length - 3, pack.length, 0xffffffff, 17 * 1024 * 1024, 0, SEAL_OVERHEAD + 3]) {
      tail.writeUInt32LE(length >>> 0);
      assert.throws(() => headerRange(pack.length, tail, 'p1'), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'REPOSITORY_DAMAGED', String(length));
        assert.match(err.message, /pack p1/);
        return true;
      });
    }
  });

  it('refuses a file too short to be a pack, or a tail that is not 4 bytes', () => {
    assert.throws(() => headerRange(4 + SEAL_OVERHEAD - 1, Buffer.alloc(4), 'p1'), damaged);
    assert.throws(() => headerRange(0, Buffer.alloc(0), 'p1'), damaged);
    assert.throws(() => headerRange(1000, Buffer.alloc(3), 'p1'), damaged);
  });

  it('refuses a header with a wrong magic', () => {
    const plain = Buffer.concat([Buffer.from('BWP2'), headerEntry(0, 10, 10)]);
    assert.throws(() => readHeader(packWithPlainHeader(plain, 10)), damaged);
    assert.throws(() => readHeader(packWithPlainHeader(Buffer.from('BW'), 0)), damaged);
  });

  it('refuses a header whose entries are cut short or of an unknown type', () => {
    const cut = Buffer.concat([Buffer.from('BWP1'), headerEntry(0, 10, 10)]).subarray(0, 4 + 40);
    assert.throws(() => readHeader(packWithPlainHeader(cut, 10)), damaged);
    const unknown = Buffer.concat([Buffer.from('BWP1'), headerEntry(2, 10, 10)]);
    assert.throws(() => readHeader(packWithPlainHeader(unknown, 10)), damaged);
  });

  it('refuses an entry list that does not sum to the data length', () => {
    const plain = Buffer.concat([Buffer.from('BWP1'), headerEntry(0, 10, 10), headerEntry(1, 20, 20)]);
    assert.deepEqual(readHeader(packWithPlainHeader(plain, 30)).map((e) => e.offset), [0, 10]);
    for (const dataBytes of [29, 31, 0]) {
      assert.throws(() => readHeader(packWithPlainHeader(plain, dataBytes)), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'REPOSITORY_DAMAGED');
        assert.match(err.message, new RegExp(`lists 30 bytes of blobs, the file holds ${dataBytes}`));
        return true;
      });
    }
  });

  it('refuses a pack with bytes inserted before the header', () => {
    const { pack } = makePack([{ type: BLOB_DATA, length: 64, rawLength: 64 }]);
    const grown = Buffer.concat([Buffer.from([0]), pack]);
    assert.throws(() => readHeader(grown), damaged);
  });

  it('refuses a flipped byte anywhere in the sealed header or its length', () => {
    const { pack } = makePack([
      { type: BLOB_DATA, length: 64, rawLength: 64 },
      { type: BLOB_TREE, length: 40, rawLength: 12 },
    ]);
    const headerStart = 104;
    for (let at = headerStart; at < pack.length; at++) {
      const copy = Buffer.from(pack);
      copy[at] = (copy[at] as number) ^ 0x04;
      assert.throws(() => readHeader(copy), damaged, `byte ${at}`);
    }
  });

  it('refuses a header sealed under another key or as another kind of file', () => {
    const { pack } = makePack([{ type: BLOB_DATA, length: 64, rawLength: 64 }]);
    assert.throws(() => readHeader(pack, 'p1', randomBytes(32)), damaged);
    const asIndex = seal(key, Buffer.concat([Buffer.from('BWP1'), headerEntry(0, 10, 10)]), fileAad('index'));
    assert.throws(() => decodePackHeader(key, asIndex, 10, 'p1'), damaged);
  });
});
