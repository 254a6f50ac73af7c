import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  BLOB_DATA,
  BLOB_TREE,
  blobAad,
  blobId,
  decodeRepositoryKeys,
  encodeRepositoryKeys,
  fileAad,
  NONCE_BYTES,
  newRepositoryKeys,
  open,
  seal,
  SEAL_OVERHEAD,
  sealInto,
  TAG_BYTES,
  wipeRepositoryKeys,
} from './crypto.js';

const damaged = { code: 'REPOSITORY_DAMAGED' };

function flipped(bytes: Buffer, at: number): Buffer {
  const copy = Buffer.from(bytes);
  copy[at] = (copy[at] as number) ^ 0x01;
  return copy;
}

describe('seal and open', () => {
  const key = randomBytes(32);
  const aad = fileAad('snapshot');
  const plain = Buffer.from('{"v":1,"what":"a snapshot"}');

  it('round-trips and adds exactly the nonce and tag', () => {
    const sealed = seal(key, plain, aad);
    assert.equal(sealed.length, plain.length + SEAL_OVERHEAD);
    assert.deepEqual(open(key, sealed, aad, 'snapshot x'), plain);
  });

  it('sealInto writes what open accepts, in place, touching nothing outside its span', () => {
    // Sizes around the 64 KiB slices the cipher is fed, and none at all.
    for (const size of [0, 1, 65_535, 65_536, 65_537, 200_000]) {
      const plaintext = randomBytes(size);
      const out = Buffer.alloc(7 + size + SEAL_OVERHEAD + 5, 0xee);
      const written = sealInto(key, plaintext, aad, out, 7);
      assert.equal(written, size + SEAL_OVERHEAD, `size ${size}`);
      assert.deepEqual(open(key, out.subarray(7, 7 + written), aad, 'blob'), plaintext, `size ${size}`);
      assert.ok(out.subarray(0, 7).every((b) => b === 0xee) && out.subarray(7 + written).every((b) => b === 0xee), `size ${size}: bytes outside were kept`);
    }
  });

  it('round-trips an empty plaintext', () => {
    const sealed = seal(key, Buffer.alloc(0), aad);
    assert.equal(sealed.length, SEAL_OVERHEAD);
    assert.equal(open(key, sealed, aad, 'empty').length, 0);
  });

  it('uses a fresh nonce each time, so equal plaintexts seal differently', () => {
    const a = seal(key, plain, aad);
    const b = seal(key, plain, aad);
    assert.notDeepEqual(a.subarray(0, NONCE_BYTES), b.subarray(0, NONCE_BYTES));
    assert.notDeepEqual(a, b);
  });

  it('refuses a flipped byte in the nonce, the body or the tag, naming the object', () => {
    const sealed = seal(key, plain, aad);
    const positions = { nonce: 0, 'last nonce byte': NONCE_BYTES - 1, body: NONCE_BYTES + 3, tag: sealed.length - TAG_BYTES, 'last byte': sealed.length - 1 };
    for (const [where, at] of Object.entries(positions)) {
      assert.throws(() => open(key, flipped(sealed, at), aad, 'snapshot 1234'), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'REPOSITORY_DAMAGED', where);
        assert.match(err.message, /snapshot 1234/);
        return true;
      });
    }
  });

  it('refuses another key', () => {
    assert.throws(() => open(randomBytes(32), seal(key, plain, aad), aad, 'x'), damaged);
  });

  it('binds each file kind: an object sealed as one kind does not open as another', () => {
    const kinds = ['config', 'index', 'snapshot', 'lock', 'pack-header'] as const;
    for (const sealedAs of kinds) {
      const sealed = seal(key, plain, fileAad(sealedAs));
      for (const openedAs of kinds) {
        if (openedAs === sealedAs) assert.deepEqual(open(key, sealed, fileAad(openedAs), 'x'), plain);
        else assert.throws(() => open(key, sealed, fileAad(openedAs), 'x'), damaged, `${sealedAs} opened as ${openedAs}`);
      }
    }
  });

  it('binds a blob to its type and id', () => {
    const id = randomBytes(32);
    const sealed = seal(key, plain, blobAad(BLOB_DATA, id));
    assert.deepEqual(open(key, sealed, blobAad(BLOB_DATA, id), 'blob'), plain);
    assert.throws(() => open(key, sealed, blobAad(BLOB_TREE, id), 'blob'), damaged);
    assert.throws(() => open(key, sealed, blobAad(BLOB_DATA, flipped(id, 31)), 'blob'), damaged);
    assert.throws(() => open(key, sealed, blobAad(BLOB_DATA, randomBytes(32)), 'blob'), damaged);
  });

  it('lays out blob associated data as the type byte then the id', () => {
    const id = randomBytes(32);
    const aadTree = blobAad(BLOB_TREE, id);
    assert.equal(aadTree.length, 33);
    assert.equal(aadTree[0], 1);
    assert.deepEqual(aadTree.subarray(1), id);
    assert.equal(blobAad(BLOB_DATA, id)[0], 0);
    assert.equal(fileAad('index').toString('utf8'), 'bulwark-backup-v1:index');
  });

  it('refuses truncated input: shorter than nonce and tag, or missing its last byte', () => {
    const sealed = seal(key, plain, aad);
    for (const length of [0, 1, NONCE_BYTES, SEAL_OVERHEAD - 1]) {
      assert.throws(() => open(key, sealed.subarray(0, length), aad, 'index 9'), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'REPOSITORY_DAMAGED');
        assert.match(err.message, /index 9 is truncated/);
        return true;
      });
    }
    assert.throws(() => open(key, sealed.subarray(0, sealed.length - 1), aad, 'x'), damaged);
    assert.throws(() => open(key, sealed.subarray(1), aad, 'x'), damaged);
    assert.throws(() => open(key, Buffer.concat([sealed, Buffer.from([0])]), aad, 'x'), damaged);
  });
});

describe('blobId', () => {
  const mac = randomBytes(32);
  const plain = Buffer.from('the same bytes');

  it('is 32 bytes and deterministic under one key', () => {
    const id = blobId(mac, BLOB_DATA, plain);
    assert.equal(id.length, 32);
    assert.deepEqual(blobId(mac, BLOB_DATA, Buffer.from(plain)), id);
  });

  it('differs by type for the same plaintext', () => {
    assert.notDeepEqual(blobId(mac, BLOB_DATA, plain), blobId(mac, BLOB_TREE, plain));
  });

  it('is keyed: another MAC key gives another id', () => {
    assert.notDeepEqual(blobId(mac, BLOB_DATA, plain), blobId(randomBytes(32), BLOB_DATA, plain));
  });

  it('differs for different plaintexts', () => {
    assert.notDeepEqual(blobId(mac, BLOB_DATA, plain), blobId(mac, BLOB_DATA, Buffer.from('the same bytez')));
  });
});

describe('repository keys', () => {
  it('encode to 97 bytes (version byte first) and decode to the same keys', () => {
    const keys = newRepositoryKeys();
    const encoded = encodeRepositoryKeys(keys);
    assert.equal(encoded.length, 97);
    assert.equal(encoded[0], 1);
    const decoded = decodeRepositoryKeys(encoded);
    assert.deepEqual(decoded.encryption, keys.encryption);
    assert.deepEqual(decoded.mac, keys.mac);
    assert.deepEqual(decoded.chunker, keys.chunker);
  });

  it('makes three distinct random keys each time', () => {
    const a = newRepositoryKeys();
    const b = newRepositoryKeys();
    assert.notDeepEqual(a.encryption, a.mac);
    assert.notDeepEqual(a.mac, a.chunker);
    assert.notDeepEqual(a.encryption, b.encryption);
  });

  it('decoded keys do not share memory with the input', () => {
    const encoded = encodeRepositoryKeys(newRepositoryKeys());
    const decoded = decodeRepositoryKeys(encoded);
    const before = Buffer.from(decoded.encryption);
    encoded.fill(0);
    assert.deepEqual(decoded.encryption, before);
  });

  it('refuses malformed key material', () => {
    const good = encodeRepositoryKeys(newRepositoryKeys());
    const bad = [Buffer.alloc(0), good.subarray(0, 96), Buffer.concat([good, Buffer.from([0])]), Buffer.concat([Buffer.from([2]), good.subarray(1)]), Buffer.concat([Buffer.from([0]), good.subarray(1)])];
    for (const bytes of bad) assert.throws(() => decodeRepositoryKeys(bytes), damaged);
  });

  it('wipeRepositoryKeys zeroes every key in place', () => {
    const keys = newRepositoryKeys();
    const views = [keys.encryption, keys.mac, keys.chunker];
    wipeRepositoryKeys(keys);
    for (const key of views) {
      assert.equal(key.length, 32);
      assert.ok(key.every((b) => b === 0));
    }
  });

  it('wipeRepositoryKeys zeroes decoded keys', () => {
    const keys = decodeRepositoryKeys(encodeRepositoryKeys(newRepositoryKeys()));
    wipeRepositoryKeys(keys);
    assert.ok([keys.encryption, keys.mac, keys.chunker].every((k) => k.every((b) => b === 0)));
  });
});
