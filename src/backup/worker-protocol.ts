/**
 * Messages between the backup pool (main thread) and its workers. A worker
 * reads, chunks, hashes, compresses and seals file content; the main thread
 * walks directories, decides which blobs are new (it holds the index), and
 * writes packs. Byte arrays cross as transferred ArrayBuffers, never copied.
 */

/** Files up to this size travel in batches (one message and one index lookup for many) and are read with blocking calls. */
export const SMALL_FILE_BYTES = 512 * 1024;

export interface WorkerInit {
  encryption: Uint8Array;
  mac: Uint8Array;
  chunker: Uint8Array;
  /** The ring where workers say which files of each small-file batch they have begun (read-progress.ts). */
  progress: SharedArrayBuffer;
}

/** The read-ahead thread's start-up data: the same ring, read only. */
export interface ReadAheadInit {
  progress: SharedArrayBuffer;
}

/** Main → read-ahead: the files of small-file batch `seq`, in the order a worker will read them. */
export interface ReadAheadBatch {
  seq: number;
  files: { path: string; inode: number; device: number }[];
}

export interface FileTask {
  /** Where to open it (through the walker's open directory: `/proc/self/fd/N/name`). */
  path: string;
  /** What reports call it. */
  display: string;
  /** Identity seen by the walker: the worker refuses a file that was swapped for another (or a symlink) since. */
  inode: number;
  device: number;
  /** Size seen by the walker: small files are read with blocking calls (no thread hand-off per call). */
  size: number;
}

/** An error as it crosses threads: its catalogue code (BulwarkError) when it has one, and its message. */
export interface WorkerError {
  code?: string;
  message: string;
}

/** Main → worker. */
export type ToWorker =
  /** `seq`: the batch's number in the progress ring, when the read-ahead thread was given it. */
  | { t: 'job'; job: number; files: FileTask[]; seq?: number }
  | { t: 'known'; req: number; fresh: Uint8Array }
  /**
   * The blobs of request `req` are in the pack writer: the worker may go on (back-pressure).
   * `buffer`: the one they came in, handed back once written out, for the worker to reuse.
   */
  | { t: 'stored'; req: number; buffer?: ArrayBuffer }
  | { t: 'open'; req: number; type: number; id: Uint8Array; sealed: Uint8Array; rawLength: number }
  /** Open every blob in `region` (where each starts at its offset) only to see that it is sound. */
  | { t: 'verify'; req: number; region: Uint8Array; blobs: RegionBlob[] };

export interface RegionBlob {
  type: number;
  id: Uint8Array;
  /** Offset in the region. */
  offset: number;
  length: number;
  rawLength: number;
}

/** Sealed blobs side by side in one buffer: one message and one transfer for many. */
export interface SealedBlobs {
  /** Concatenated 32-byte ids. */
  ids: Uint8Array;
  /** Each blob's nonce ‖ ciphertext ‖ tag of the (maybe compressed) plaintext, one after another. */
  data: Uint8Array;
  /** Sealed length of each blob in `data`. */
  lengths: number[];
  rawLengths: number[];
}

export interface FileOutcome {
  /** Concatenated 32-byte data blob ids, in file order. */
  content: Uint8Array;
  size: number;
  error?: string;
}

/** Worker → main. */
export type FromWorker =
  | { t: 'lookup'; req: number; job: number; ids: Uint8Array; lengths: number[] }
  | { t: 'blobs'; req: number; job: number; blobs: SealedBlobs }
  | { t: 'done'; job: number; files: FileOutcome[] }
  | { t: 'opened'; req: number; plain?: Uint8Array; error?: WorkerError }
  /** Per blob of a `verify`, in order: what was wrong with it, or null when it is sound. */
  | { t: 'verified'; req: number; errors: (WorkerError | null)[] }
  | { t: 'fatal'; message: string };
