import { BulwarkError } from '../core/errors.js';

const MAGIC = 0xfd2fb528;
/** The most one compressed block may regenerate (RFC 8878, 3.1.1.2.4: min(window, 128 KiB)). */
const MAX_BLOCK_OUTPUT = 128 * 1024;
const BLOCK_RAW = 0;
const BLOCK_RLE = 1;
const BLOCK_COMPRESSED = 2;

/**
 * The most bytes one zstd frame (RFC 8878) can decompress to, read from its
 * block headers without decompressing: raw and RLE blocks give their size,
 * a compressed block at most 128 KiB. Anything but exactly one well-formed
 * frame (the only thing Bulwark writes) is refused, so a crafted blob cannot
 * make a reader allocate far more than the blob's recorded size.
 */
export function zstdOutputBound(frame: Buffer, what: string): number {
  const damaged = (why: string): BulwarkError => new BulwarkError('REPOSITORY_DAMAGED', `${what} is not a zstd frame Bulwark wrote (${why})`);
  if (frame.length < 6 || frame.readUInt32LE(0) !== MAGIC) throw damaged('no frame magic');
  const descriptor = frame[4] as number;
  const contentSizeFlag = descriptor >> 6;
  const singleSegment = (descriptor >> 5) & 1;
  const checksum = (descriptor >> 2) & 1;
  const dictIdFlag = descriptor & 3;
  if ((descriptor >> 3) & 1) throw damaged('reserved bit set');
  const contentSizeBytes = [singleSegment ? 1 : 0, 2, 4, 8][contentSizeFlag] as number;
  let offset = 5 + (singleSegment ? 0 : 1) + ([0, 1, 2, 4][dictIdFlag] as number) + contentSizeBytes;
  let bound = 0;
  for (;;) {
    if (offset + 3 > frame.length) throw damaged('truncated block header');
    const header = frame.readUIntLE(offset, 3);
    offset += 3;
    const last = header & 1;
    const type = (header >> 1) & 3;
    const size = header >> 3;
    if (type === BLOCK_RAW) {
      bound += size;
      offset += size;
    } else if (type === BLOCK_RLE) {
      bound += size;
      offset += 1;
    } else if (type === BLOCK_COMPRESSED) {
      bound += MAX_BLOCK_OUTPUT;
      offset += size;
    } else throw damaged('reserved block type');
    if (offset > frame.length) throw damaged('truncated block');
    if (last) break;
  }
  if (offset + (checksum ? 4 : 0) !== frame.length) throw damaged('bytes after the frame');
  return bound;
}
