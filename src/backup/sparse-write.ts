
/** File-system block size holes are made of. */
const BLOCK = 4096;
const ZERO_BLOCK = Buffer.alloc(BLOCK);

/** Whether a block-sized (or shorter) piece is all zeros. */
function zeroBlock(piece: Buffer): boolean {
  return piece.equals(piece.length === BLOCK ? ZERO_BLOCK : ZERO_BLOCK.subarray(0, piece.length));
}

/**
 * The runs of `data` (written at file offset `position`) that hold a non-zero
 * byte, as [start, end) offsets into `data`. Blocks are aligned to the file,
 * not to the data, so the holes left fall on block boundaries.
 */
function dataRuns(data: Buffer, position: number): [number, number][] {
  const runs: [number, number][] = [];
  let runStart = -1;
  let at = 0;
  const firstEdge = (BLOCK - (position % BLOCK)) % BLOCK;
  for (let edge = firstEdge === 0 ? Math.min(BLOCK, data.length) : Math.min(firstEdge, data.length); at < data.length; edge = Math.min(edge + BLOCK, data.length)) {
    const zero = zeroBlock(data.subarray(at, edge));
    if (!zero && runStart < 0) runStart = at;
    if (zero && runStart >= 0) {
      runs.push([runStart, at]);
      runStart = -1;
    }
    at = edge;
  }
  if (runStart >= 0) runs.push([runStart, data.length]);
  return runs;
}

/** Writes `length` bytes of `buffer` from `offset` at file `position`; returns the bytes written. */
export type PositionalWrite = (buffer: Buffer, offset: number, length: number, position: number) => Promise<number>;

/**
 * Writes `data` at `position`, leaving blocks that are all zeros unwritten, so
 * a sparse file comes back sparse (the caller truncates the file to its size
 * afterwards, which makes trailing holes). Returns the file offset the last
 * written byte reaches (`position` when nothing was written).
 */
export async function writeSparse(write: PositionalWrite, data: Buffer, position: number): Promise<number> {
  let reached = position;
  for (const [start, end] of dataRuns(data, position)) {
    let done = 0;
    while (done < end - start) done += await write(data, start + done, end - start - done, position + start + done);
    reached = position + end;
  }
  return reached;
}
