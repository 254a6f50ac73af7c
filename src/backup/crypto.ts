import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { BulwarkError } from '../core/errors.js';

/**
 * The secrets of one repository, made once at `backup init` and stored only
 * inside key files (each wrapping them under a password or key file):
 * - `encryption`: AES-256-GCM key for every object and blob;
 * - `mac`: HMAC-SHA-256 key that names blobs, so a stored id does not tell
 *   whether a known plaintext is in the repository;
 * - `chunker`: seed of the chunker's gear table, so chunk boundaries (and the
 *   sizes an observer of the storage sees) do not reveal known files either.
 */
export interface RepositoryKeys {
  encryption: Buffer;
  mac: Buffer;
  chunker: Buffer;
}

export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;
/** Bytes an encrypted object adds to its plaintext: nonce before, tag after. */
export const SEAL_OVERHEAD = NONCE_BYTES + TAG_BYTES;

export function newRepositoryKeys(): RepositoryKeys {
  return { encryption: randomBytes(32), mac: randomBytes(32), chunker: randomBytes(32) };
}

export function encodeRepositoryKeys(keys: RepositoryKeys): Buffer {
  return Buffer.concat([Buffer.from([1]), keys.encryption, keys.mac, keys.chunker]);
}

export function decodeRepositoryKeys(bytes: Uint8Array): RepositoryKeys {
  if (bytes.length !== 97 || bytes[0] !== 1) throw new BulwarkError('REPOSITORY_DAMAGED', 'the repository key material is malformed');
  const b = Buffer.from(bytes);
  return { encryption: b.subarray(1, 33), mac: b.subarray(33, 65), chunker: b.subarray(65, 97) };
}

/** Overwrites key material in memory once a command is done with it. */
export function wipeRepositoryKeys(keys: RepositoryKeys): void {
  keys.encryption.fill(0);
  keys.mac.fill(0);
  keys.chunker.fill(0);
}

/**
 * A blob's id: HMAC-SHA-256 under the repository's MAC key of its type byte and
 * plaintext. The type byte keeps a chunk of file data that happens to equal a
 * tree's JSON from being taken for that tree (and never stored as data).
 */
export function blobId(macKey: Uint8Array, type: BlobType, plaintext: Uint8Array): Buffer {
  return createHmac('sha256', macKey).update(TYPE_BYTES[type]).update(plaintext).digest();
}

const TYPE_BYTES = [Buffer.from([0]), Buffer.from([1])] as const;

/**
 * Encrypts with a fresh random nonce and returns the parts `nonce, ciphertext, tag`
 * without joining them, so a pack can write them as they are. `aad` binds the
 * object to its role (a snapshot cannot be served as an index, a blob as another).
 */
export function sealParts(key: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Buffer[] {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(aad);
  const body = cipher.update(plaintext);
  const final = cipher.final();
  const parts = [nonce, body];
  if (final.length > 0) parts.push(final);
  parts.push(cipher.getAuthTag());
  return parts;
}

/** Plaintext encrypted per call by `sealInto`: its outputs stay small enough to be recycled by the allocator at once. */
const SEAL_SLICE_BYTES = 64 * 1024;

/**
 * `sealParts` written into `out` at `at` (which must have room for the plaintext and
 * SEAL_OVERHEAD); returns the bytes written. The plaintext goes through the cipher in
 * slices, so no buffer of its size is allocated: a backup worker seals hundreds of
 * MiB, and fresh blob-sized outputs grew its allocator's heap instead of being reused.
 */
export function sealInto(key: Uint8Array, plaintext: Uint8Array, aad: Uint8Array, out: Uint8Array, at: number): number {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(aad);
  out.set(nonce, at);
  let end = at + NONCE_BYTES;
  for (let i = 0; i < plaintext.length; i += SEAL_SLICE_BYTES) {
    const piece = cipher.update(plaintext.subarray(i, i + SEAL_SLICE_BYTES));
    out.set(piece, end);
    end += piece.length;
  }
  const final = cipher.final();
  out.set(final, end);
  end += final.length;
  out.set(cipher.getAuthTag(), end);
  return end + TAG_BYTES - at;
}

export function seal(key: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Buffer {
  return Buffer.concat(sealParts(key, plaintext, aad));
}

/** Decrypts and authenticates; REPOSITORY_DAMAGED (naming `what`) when the bytes were changed, truncated or bound to another role. */
export function open(key: Uint8Array, sealed: Uint8Array, aad: Uint8Array, what: string): Buffer {
  if (sealed.length < SEAL_OVERHEAD) throw new BulwarkError('REPOSITORY_DAMAGED', `${what} is truncated`);
  const nonce = sealed.subarray(0, NONCE_BYTES);
  const tag = sealed.subarray(sealed.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key, nonce);
  decipher.setAAD(aad);
  decipher.setAuthTag(tag);
  const body = decipher.update(sealed.subarray(NONCE_BYTES, sealed.length - TAG_BYTES));
  try {
    const final = decipher.final();
    return final.length > 0 ? Buffer.concat([body, final]) : body;
  } catch {
    throw new BulwarkError('REPOSITORY_DAMAGED', `${what} failed authentication: it was damaged or tampered with`);
  }
}

/**
 * Associated data of repository files: their kind, so one kind cannot stand in
 * for another, and for files named by a random id (snapshots, indexes, locks) that
 * name too, so a file copied or renamed to another id fails to open.
 */
export function fileAad(kind: 'config' | 'index' | 'snapshot' | 'lock' | 'pack-header', name?: string): Buffer {
  return Buffer.from(name === undefined ? `bulwark-backup-v1:${kind}` : `bulwark-backup-v1:${kind}:${name}`, 'utf8');
}

export const BLOB_DATA = 0;
export const BLOB_TREE = 1;
export type BlobType = typeof BLOB_DATA | typeof BLOB_TREE;

/** Associated data of a blob: its type and id, so a blob moved or swapped inside a pack fails to open. */
export function blobAad(type: BlobType, id: Uint8Array): Buffer {
  const aad = Buffer.allocUnsafe(1 + id.length);
  aad[0] = type;
  aad.set(id, 1);
  return aad;
}
