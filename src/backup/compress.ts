import { compress as zstdCompress, decompress as zstdDecompress } from '@mongodb-js/zstd';
import { BulwarkError } from '../core/errors.js';
import { zstdOutputBound } from './zstd-frame.js';

/** zstd level 3: about restic's size on text at a cost a 2-core machine affords (docs/repository-format.md). */
export const ZSTD_LEVEL = 3;
/** Blobs smaller than this are stored as they are: the frame overhead eats the gain. */
const MIN_COMPRESS_BYTES = 64;
/** A frame's bound may exceed its content by up to one block (the last one's 128 KiB allowance). */
const MAX_BLOCK_SLACK = 128 * 1024;

/**
 * Compresses when it helps: the result is the zstd frame only if it is smaller
 * than the input, otherwise the input itself (already-compressed or random data
 * costs one quick attempt, and is stored raw). The caller tells the two apart
 * by length: a stored blob is compressed exactly when it is shorter than its plaintext.
 */
export async function compressIfSmaller(data: Buffer): Promise<Buffer> {
  if (data.length < MIN_COMPRESS_BYTES) return data;
  const packed = await zstdCompress(data, ZSTD_LEVEL);
  return packed.length < data.length ? packed : data;
}

/** Undoes compressIfSmaller for a blob whose plaintext length is known. */
export async function decompressTo(data: Buffer, rawLength: number, what: string): Promise<Buffer> {
  if (data.length === rawLength) return data;
  if (data.length > rawLength) throw new BulwarkError('REPOSITORY_DAMAGED', `${what} is longer than its recorded size`);
  // The frames do not declare their size, so their block headers bound it before anything is allocated: a frame
  // crafted (by a holder of the repository keys) to inflate far past the recorded size is refused unopened.
  if (zstdOutputBound(data, what) > rawLength + MAX_BLOCK_SLACK) throw new BulwarkError('REPOSITORY_DAMAGED', `${what} would decompress to more than its recorded size`);
  let out: Buffer;
  try {
    out = await zstdDecompress(data);
  } catch {
    throw new BulwarkError('REPOSITORY_DAMAGED', `${what} could not be decompressed`);
  }
  if (out.length !== rawLength) throw new BulwarkError('REPOSITORY_DAMAGED', `${what} decompressed to ${out.length} bytes, not the ${rawLength} recorded`);
  return out;
}
