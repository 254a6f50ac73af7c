import { BulwarkError } from '../core/errors.js';
import type { Backend } from './backend/backend.js';
import { mapLimit, Semaphore } from './concurrency.js';
import type { BlobLocation } from './repository.js';

export interface WantedBlob {
  id: Buffer;
  location: BlobLocation;
}

/** Opens one sealed blob (authenticates, decompresses, checks its id) and gives what the caller keeps of it. */
export type BlobOpener<T> = (blob: WantedBlob, sealed: Buffer) => Promise<T>;

/**
 * Opens every blob of one read at once (elsewhere: a worker thread, one message for
 * the lot), giving an outcome per blob in order; or undefined to leave the read to
 * the per-blob opener. `region` holds the pack's bytes from `regionOffset` on, and
 * is the hook's to keep (it may hand it to another thread).
 */
export type RegionOpener<T> = (region: Buffer, regionOffset: number, blobs: readonly WantedBlob[]) => Promise<(T | Error)[]> | undefined;

/** Blobs closer than this in a pack are read in one go, gap included: one read is cheaper than two up to about this size. */
const MAX_GAP = 64 * 1024;
/** A single read covers at most this much of a pack (a larger blob is read alone). */
const MAX_READ = 4 * 1024 * 1024;
/**
 * Blobs this large are read alone, into a buffer of their own: one read each
 * costs little against their size, and a buffer of its own can be handed to
 * a worker thread without a copy (a slice of a joint read would be copied).
 */
const ALONE_BYTES = 128 * 1024;
const READS_IN_FLIGHT = 2;
/** Reads whose blobs are still being opened: reading goes on ahead of opening, this far. */
const READS_HELD = 4;
const OPENS_PER_READ = 4;

interface Span {
  pack: string;
  offset: number;
  end: number;
  blobs: WantedBlob[];
}

/** Neighbouring blobs of the same pack, in pack order, joined into reads of at most MAX_READ bytes. */
function spans(wanted: readonly WantedBlob[]): Span[] {
  const sorted = [...wanted].sort((a, b) => (a.location.pack < b.location.pack ? -1 : a.location.pack > b.location.pack ? 1 : a.location.offset - b.location.offset));
  const out: Span[] = [];
  let current: Span | undefined;
  for (const blob of sorted) {
    const { pack, offset, length } = blob.location;
    const end = offset + length;
    if (length >= ALONE_BYTES) {
      out.push({ pack, offset, end, blobs: [blob] });
      continue;
    }
    if (current && current.pack === pack && offset >= current.offset && offset - current.end <= MAX_GAP && Math.max(end, current.end) - current.offset <= MAX_READ) {
      current.end = Math.max(current.end, end);
      current.blobs.push(blob);
      continue;
    }
    current = { pack, offset, end, blobs: [blob] };
    out.push(current);
  }
  return out;
}

/**
 * One blob's bytes in a joint read. A slice that covers the whole read (a
 * damaged index can say so) is copied: looking like a buffer of its own, it
 * could be handed to a worker, taking the memory from under the others.
 */
function slice(region: Buffer, start: number, length: number): Buffer {
  const part = region.subarray(start, start + length);
  return part.byteOffset === 0 && part.byteLength === part.buffer.byteLength ? Buffer.from(part) : part;
}

/**
 * Reads and opens a set of blobs the way their packs hold them: sorted by pack
 * and offset, neighbours joined into one read, so many small blobs cost a few
 * large reads instead of one read each. Returns what `open` made of each blob
 * (its plaintext, say), or the error that kept it from being read or opened
 * (by id, hex); one damaged blob or unreadable range never costs the others.
 * Memory: at most READS_HELD reads of MAX_READ bytes (or one large blob each),
 * plus what is returned.
 */
export async function fetchBlobs<T>(backend: Backend, wanted: readonly WantedBlob[], open: BlobOpener<T>, openRegion?: RegionOpener<T>): Promise<Map<string, T | Error>> {
  const out = new Map<string, T | Error>();
  const openOne = async (blob: WantedBlob, sealed: Buffer): Promise<void> => {
    try {
      out.set(blob.id.toString('hex'), await open(blob, sealed));
    } catch (err) {
      out.set(blob.id.toString('hex'), err as Error);
    }
  };
  const readAlone = async (blob: WantedBlob): Promise<void> => {
    const { pack, offset, length } = blob.location;
    let sealed: Buffer;
    try {
      sealed = await backend.read('data', pack, { offset, length });
    } catch (err) {
      out.set(blob.id.toString('hex'), err as Error);
      return;
    }
    await openOne(blob, sealed);
  };
  const held = new Semaphore(READS_HELD);
  const opening: Promise<void>[] = [];
  await mapLimit(spans(wanted), READS_IN_FLIGHT, async (span) => {
    await held.acquire();
    let bytes: Buffer | undefined;
    if (span.blobs.length > 1 || openRegion) {
      try {
        bytes = await backend.read('data', span.pack, { offset: span.offset, length: span.end - span.offset });
      } catch {
        // A pack cut short (or a read failing part-way) must cost only the blobs it really lacks: read them one by one.
      }
    }
    const region = bytes;
    const together = region === undefined ? undefined : openRegion?.(region, span.offset, span.blobs);
    const opened =
      together !== undefined
        ? together.then(
            (outcomes) => {
              // An answer short of a blob must not pass that blob: it gets an error of its own.
              span.blobs.forEach((blob, i) => out.set(blob.id.toString('hex'), i < outcomes.length ? (outcomes[i] as T | Error) : new BulwarkError('INTERNAL', 'no outcome was given for this blob')));
            },
            (err: unknown) => span.blobs.forEach((blob) => out.set(blob.id.toString('hex'), err as Error)),
          )
        : region === undefined
          ? mapLimit(span.blobs, OPENS_PER_READ, readAlone)
          : span.blobs.length === 1
            ? openOne(span.blobs[0] as WantedBlob, region)
            : mapLimit(span.blobs, OPENS_PER_READ, (blob) => openOne(blob, slice(region, blob.location.offset - span.offset, blob.location.length)));
    // The next read starts now; this one's blobs are opened meanwhile (openOne and readAlone never reject).
    opening.push(opened.then(() => held.release()));
  });
  await Promise.all(opening);
  return out;
}
