import { BulwarkError } from '../core/errors.js';
import { fileAad, open, seal, type BlobType } from './crypto.js';

/**
 * An index file tells, for the packs it covers, which blobs each holds and where,
 * so a backup or restore need not read every pack header. Binary, sealed:
 *
 *   "BWI1" ‖ u32le packCount ‖ packCount × ( packId[32] ‖ u32le blobCount ‖
 *       blobCount × ( type u8 ‖ offset u32le ‖ length u32le ‖ rawLength u32le ‖ id[32] ) )
 *
 * 45 bytes per blob: an index of a million blobs is 45 MB before sealing.
 * Index files are immutable; `prune` writes new ones and removes the old.
 */
export interface IndexBlob {
  type: BlobType;
  id: Buffer;
  offset: number;
  length: number;
  rawLength: number;
}

export interface IndexPack {
  id: Buffer;
  blobs: IndexBlob[];
}

const MAGIC = Buffer.from('BWI1');
const BLOB_BYTES = 1 + 4 + 4 + 4 + 32;
/** Index files are split so none grows past this many blobs (each stays a few MiB). */
export const MAX_BLOBS_PER_INDEX_FILE = 100_000;

export function encodeIndex(key: Uint8Array, packs: readonly IndexPack[], name: string): Buffer {
  const blobs = packs.reduce((n, p) => n + p.blobs.length, 0);
  const plain = Buffer.allocUnsafe(MAGIC.length + 4 + packs.length * 36 + blobs * BLOB_BYTES);
  MAGIC.copy(plain, 0);
  plain.writeUInt32LE(packs.length, 4);
  let at = 8;
  for (const pack of packs) {
    pack.id.copy(plain, at);
    plain.writeUInt32LE(pack.blobs.length, at + 32);
    at += 36;
    for (const b of pack.blobs) {
      plain[at] = b.type;
      plain.writeUInt32LE(b.offset, at + 1);
      plain.writeUInt32LE(b.length, at + 5);
      plain.writeUInt32LE(b.rawLength, at + 9);
      b.id.copy(plain, at + 13);
      at += BLOB_BYTES;
    }
  }
  return seal(key, plain, fileAad('index', name));
}

export function decodeIndex(key: Uint8Array, sealed: Buffer, name: string): IndexPack[] {
  const plain = open(key, sealed, fileAad('index', name), `index ${name}`);
  const damaged = (): BulwarkError => new BulwarkError('REPOSITORY_DAMAGED', `index ${name} is malformed`);
  if (plain.length < 8 || !plain.subarray(0, 4).equals(MAGIC)) throw damaged();
  const count = plain.readUInt32LE(4);
  const packs: IndexPack[] = [];
  let at = 8;
  for (let p = 0; p < count; p++) {
    if (at + 36 > plain.length) throw damaged();
    const id = Buffer.from(plain.subarray(at, at + 32));
    const n = plain.readUInt32LE(at + 32);
    at += 36;
    if (at + n * BLOB_BYTES > plain.length) throw damaged();
    const blobs: IndexBlob[] = [];
    for (let i = 0; i < n; i++, at += BLOB_BYTES) {
      const type = plain[at];
      if (type !== 0 && type !== 1) throw damaged();
      blobs.push({ type, offset: plain.readUInt32LE(at + 1), length: plain.readUInt32LE(at + 5), rawLength: plain.readUInt32LE(at + 9), id: Buffer.from(plain.subarray(at + 13, at + 45)) });
    }
    packs.push({ id, blobs });
  }
  if (at !== plain.length) throw damaged();
  return packs;
}
