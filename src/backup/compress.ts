import { BulwarkError } from '../core/errors.js';
import { CHUNK_SIZES } from './chunker.js';
import { zstd } from './zstd-native.js';

/** zstd level 3: about restic's size on text at a cost a 2-core machine affords (docs/repository-format.md). */
export const ZSTD_LEVEL = 3;
/** Blobs smaller than this are stored as they are: the frame overhead eats the gain. */
const MIN_COMPRESS_BYTES = 64;

/**
 * Compresses when it helps: the result is the zstd frame only if it is smaller
 * than the input, otherwise the input itself (already-compressed or random data
 * costs one quick attempt, and is stored raw). The caller tells the two apart
 * by length: a stored blob is compressed exactly when it is shorter than its plaintext.
 */
export function compressIfSmaller(data: Buffer): Buffer {
  if (data.length < MIN_COMPRESS_BYTES) return data;
  compressContext ??= new zstd.CCtx();
  const out = Buffer.allocUnsafeSlow(zstd.compressBound(data.length));
  const length = compressContext.compress(out, data, ZSTD_LEVEL);
  // A copy of the frame, so the (input-sized) bound buffer is not kept alive by a small result.
  return length < data.length ? Buffer.from(out.subarray(0, length)) : data;
}

/** One context per thread (this module is loaded once per worker), made on first use. */
let compressContext: InstanceType<typeof zstd.CCtx> | undefined;
let decompressContext: InstanceType<typeof zstd.DCtx> | undefined;

/**
 * compressIfSmaller on the calling thread, for a worker that compresses one
 * data blob after another: one zstd context and one output buffer for all of them.
 */
export class BlobCompressor {
  readonly #context = new zstd.CCtx();
  readonly #out = Buffer.allocUnsafeSlow(zstd.compressBound(CHUNK_SIZES.max));

  /** The frame when it is smaller than `data` (a view into a buffer the next call reuses), else `data` itself. */
  compress(data: Buffer): Buffer {
    if (data.length < MIN_COMPRESS_BYTES || data.length > CHUNK_SIZES.max) return data;
    const length = this.#context.compress(this.#out, data, ZSTD_LEVEL);
    return length < data.length ? this.#out.subarray(0, length) : data;
  }
}

/** Undoes compressIfSmaller for a blob whose plaintext length is known. */
export function decompressTo(data: Buffer, rawLength: number, what: string): Buffer {
  if (data.length === rawLength) return data;
  if (data.length > rawLength) throw new BulwarkError('REPOSITORY_DAMAGED', `${what} is longer than its recorded size`);
  // Into a buffer of exactly the recorded size, never more: zstd stops with an error rather than write past
  // it, so a frame crafted (by a holder of the repository keys) to inflate far beyond it costs nothing.
  // Block headers cannot bound the output beforehand: zstd splits blocks, and a small block is legitimate.
  decompressContext ??= new zstd.DCtx();
  const out = Buffer.allocUnsafeSlow(rawLength);
  let length: number;
  try {
    // Exactly one frame, as Bulwark writes (zstd would also take several, or skippable frames after one).
    if (zstd.findFrameCompressedSize(data) !== data.length) throw new Error('not one frame');
    length = decompressContext.decompress(out, data);
  } catch {
    throw new BulwarkError('REPOSITORY_DAMAGED', `${what} could not be decompressed to its recorded size`);
  }
  if (length !== rawLength) throw new BulwarkError('REPOSITORY_DAMAGED', `${what} decompressed to ${length} bytes, not the ${rawLength} recorded`);
  return out;
}
