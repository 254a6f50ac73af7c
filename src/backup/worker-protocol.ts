/**
 * Messages between the backup pool (main thread) and its workers. A worker
 * reads, chunks, hashes, compresses and seals file content; the main thread
 * walks directories, decides which blobs are new (it holds the index), and
 * writes packs. Byte arrays cross as transferred ArrayBuffers, never copied.
 */

export interface WorkerInit {
  encryption: Uint8Array;
  mac: Uint8Array;
  chunker: Uint8Array;
}

export interface FileTask {
  /** Where to open it (through the walker's open directory: `/proc/self/fd/N/name`). */
  path: string;
  /** What reports call it. */
  display: string;
  /** Identity seen by the walker: the worker refuses a file that was swapped for another (or a symlink) since. */
  inode: number;
  device: number;
}

/** Main → worker. */
export type ToWorker =
  | { t: 'job'; job: number; files: FileTask[] }
  | { t: 'known'; req: number; fresh: Uint8Array }
  /** The blobs of request `req` are in the pack writer: the worker may go on (back-pressure). */
  | { t: 'stored'; req: number }
  | { t: 'open'; req: number; type: number; id: Uint8Array; sealed: Uint8Array; rawLength: number };

export interface SealedBlob {
  id: Uint8Array;
  /** nonce ‖ ciphertext ‖ tag of the (maybe compressed) plaintext. */
  data: Uint8Array;
  rawLength: number;
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
  | { t: 'blobs'; req: number; job: number; blobs: SealedBlob[] }
  | { t: 'done'; job: number; files: FileOutcome[] }
  | { t: 'opened'; req: number; plain?: Uint8Array; error?: string }
  | { t: 'fatal'; message: string };
