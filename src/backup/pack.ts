import { BulwarkError } from '../core/errors.js';
import { fileAad, open, seal, SEAL_OVERHEAD, type BlobType } from './crypto.js';

/**
 * A pack: blobs (each sealed on its own, so one can be read without the rest)
 * followed by the sealed header that lists them and the header's length:
 *
 *   blob₀ … blobₙ₋₁ ‖ seal(header) ‖ u32le(len(seal(header)))
 *   header = "BWP1" ‖ n × ( type u8 ‖ length u32le ‖ rawLength u32le ‖ id[32] )
 *
 * Offsets are implicit (the sum of the lengths before). An observer of the
 * storage sees sizes only; the header names no blob in clear.
 */
export interface PackEntry {
  type: BlobType;
  id: Buffer;
  offset: number;
  /** Bytes stored in the pack (sealed, maybe compressed). */
  length: number;
  /** Bytes of the plaintext. */
  rawLength: number;
}

const MAGIC = Buffer.from('BWP1');
const ENTRY_BYTES = 1 + 4 + 4 + 32;
/** A header larger than this is not one Bulwark wrote (a pack holds at most ~16 MiB of blobs). */
const MAX_HEADER_BYTES = 16 * 1024 * 1024;

export function encodePackHeader(key: Uint8Array, entries: readonly PackEntry[]): Buffer {
  const plain = Buffer.allocUnsafe(MAGIC.length + entries.length * ENTRY_BYTES);
  MAGIC.copy(plain, 0);
  let at = MAGIC.length;
  for (const e of entries) {
    plain[at] = e.type;
    plain.writeUInt32LE(e.length, at + 1);
    plain.writeUInt32LE(e.rawLength, at + 5);
    e.id.copy(plain, at + 9);
    at += ENTRY_BYTES;
  }
  const sealed = seal(key, plain, fileAad('pack-header'));
  const tail = Buffer.allocUnsafe(4);
  tail.writeUInt32LE(sealed.length, 0);
  return Buffer.concat([sealed, tail]);
}

/** Where the sealed header sits, from the last four bytes of a pack of `size` bytes. */
export function headerRange(size: number, tail: Buffer, name: string): { offset: number; length: number } {
  if (size < 4 + SEAL_OVERHEAD || tail.length !== 4) throw new BulwarkError('REPOSITORY_DAMAGED', `pack ${name} is too short to be a pack`);
  const length = tail.readUInt32LE(0);
  if (length < SEAL_OVERHEAD + MAGIC.length || length > MAX_HEADER_BYTES || length > size - 4) {
    throw new BulwarkError('REPOSITORY_DAMAGED', `pack ${name} has a header length that does not fit the file`);
  }
  return { offset: size - 4 - length, length };
}

/** Opens a pack's sealed header and checks that the blobs it lists fill the pack exactly. */
export function decodePackHeader(key: Uint8Array, sealed: Buffer, headerOffset: number, name: string): PackEntry[] {
  const plain = open(key, sealed, fileAad('pack-header'), `the header of pack ${name}`);
  if (plain.length < MAGIC.length || !plain.subarray(0, MAGIC.length).equals(MAGIC) || (plain.length - MAGIC.length) % ENTRY_BYTES !== 0) {
    throw new BulwarkError('REPOSITORY_DAMAGED', `the header of pack ${name} is malformed`);
  }
  const entries: PackEntry[] = [];
  let offset = 0;
  for (let at = MAGIC.length; at < plain.length; at += ENTRY_BYTES) {
    const type = plain[at];
    if (type !== 0 && type !== 1) throw new BulwarkError('REPOSITORY_DAMAGED', `the header of pack ${name} lists a blob of unknown type`);
    const length = plain.readUInt32LE(at + 1);
    entries.push({ type, id: Buffer.from(plain.subarray(at + 9, at + 9 + 32)), offset, length, rawLength: plain.readUInt32LE(at + 5) });
    offset += length;
  }
  if (offset !== headerOffset) throw new BulwarkError('REPOSITORY_DAMAGED', `pack ${name}: its header lists ${offset} bytes of blobs, the file holds ${headerOffset}`);
  return entries;
}
