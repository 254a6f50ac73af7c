import { timingSafeEqual } from 'node:crypto';
import { BulwarkError } from '../core/errors.js';
import { CHUNK_SIZES } from './chunker.js';
import { compressIfSmaller, decompressTo } from './compress.js';

/** A directory's tree blob larger than this is not one Bulwark wrote (about 200,000 entries). */
export const MAX_TREE_BYTES = 64 * 1024 * 1024;
import { BLOB_TREE, blobAad, blobId, open, sealParts, type BlobType, type RepositoryKeys } from './crypto.js';

/** Compresses (when it helps) and seals a blob whose id is already known; the parts are nonce, ciphertext, tag. */
export function sealBlob(keys: RepositoryKeys, type: BlobType, id: Uint8Array, plain: Buffer): Buffer[] {
  return sealParts(keys.encryption, compressIfSmaller(plain), blobAad(type, id));
}

/** Opens a sealed blob: authenticate, decompress, and check its id is the keyed hash of what came out. */
export function openBlob(keys: RepositoryKeys, type: BlobType, id: Uint8Array, sealed: Uint8Array, rawLength: number): Buffer {
  const what = `${type === BLOB_TREE ? 'tree' : 'data'} blob ${Buffer.from(id).toString('hex').slice(0, 12)}`;
  if (rawLength > (type === BLOB_TREE ? MAX_TREE_BYTES : CHUNK_SIZES.max)) throw new BulwarkError('REPOSITORY_DAMAGED', `${what} claims ${rawLength} bytes, more than a blob of its kind can hold`);
  const plain = decompressTo(open(keys.encryption, sealed, blobAad(type, id), what), rawLength, what);
  if (!timingSafeEqual(blobId(keys.mac, type, plain), id)) throw new BulwarkError('REPOSITORY_DAMAGED', `${what} does not hash to its id`);
  return plain;
}

/** The parts as one buffer with its own memory, so it can be transferred to another thread. */
export function joinOwned(parts: readonly Uint8Array[]): Buffer {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = Buffer.allocUnsafeSlow(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Bytes with an ArrayBuffer of their own, to be handed (transferred) to another thread:
 * the bytes themselves when they are one already, else a copy. A view into a larger
 * buffer (a whole pack read, Node's shared pool) would be copied whole, or be taken
 * from under its other users.
 */
export function ownedForTransfer(bytes: Buffer): Buffer {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : joinOwned([bytes]);
}
