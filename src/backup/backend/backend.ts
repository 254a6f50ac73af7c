/**
 * Where a backup repository's files live. The repository format (docs/repository-format.md)
 * needs only whole-file writes, whole or ranged reads, listing and removal, so a
 * local directory and an S3 bucket serve it the same way (a backend may also take
 * a file in pieces, `openWriter`, which spares holding a whole pack in memory). Every file is immutable
 * once written, except locks (rewritten under new names) — so no backend needs
 * overwrite semantics beyond "a new name each time".
 */

/**
 * The folders of a repository. `config` holds exactly one file, named `config`;
 * `data` files (packs) are named by their hex id, whose first two digits pick the
 * shard folder. Backends reject other names with BAD_REQUEST (see layout.ts).
 */
export const FILE_KINDS = ['config', 'keys', 'locks', 'snapshots', 'index', 'data'] as const;
export type FileKind = (typeof FILE_KINDS)[number];

export interface FileInfo {
  /** The file's name inside its kind (for `data`, the 64-hex pack id; backends may shard it on disk). */
  name: string;
  size: number;
  /** When the storage last wrote it (ms since the epoch, by the storage's clock), when it tells. */
  modified?: number;
}

export interface ByteRange {
  offset: number;
  length: number;
}

export interface Backend {
  /** A printable location without credentials (`/mnt/backups/r1`, `s3://bucket/prefix`). */
  readonly location: string;
  /** Creates what the backend needs (folders) for a new repository; CONFLICT when a repository (a `config`) is already there. */
  create(): Promise<void>;
  /** Every file of a kind, in no particular order. */
  list(kind: FileKind): AsyncIterable<FileInfo>;
  /**
   * The whole file, or exactly `range.length` bytes from `range.offset`.
   * NOT_FOUND when the file does not exist; REPOSITORY_DAMAGED when a range reaches past its end.
   */
  read(kind: FileKind, name: string, range?: ByteRange): Promise<Buffer>;
  /**
   * Writes a whole file, durable when the promise resolves and never visible torn:
   * a reader sees the whole file or none of it. `data` may be given in parts
   * (written in order, without being joined in memory). Writing a name that
   * exists is CONFLICT when `exclusive`, otherwise it replaces the file.
   */
  write(kind: FileKind, name: string, data: Uint8Array | readonly Uint8Array[], options?: { exclusive?: boolean }): Promise<void>;
  /**
   * Starts a file that is written in pieces (a pack as its blobs arrive), under
   * `write`'s rules once committed. Optional: `openWriter` (below) collects the
   * pieces in memory for a backend without it (S3 takes an object whole).
   */
  openWriter?(kind: FileKind, name: string, options?: { exclusive?: boolean }): Promise<FileWriter>;
  /** Removes a file; a file already gone is not an error. */
  remove(kind: FileKind, name: string): Promise<void>;
  /** The file's size, or undefined when it does not exist. */
  stat(kind: FileKind, name: string): Promise<FileInfo | undefined>;
  /** Releases connections; the backend is not used afterwards. */
  close(): Promise<void>;
}

/** A file being written in pieces; nothing is visible under its name before `commit`. */
export interface FileWriter {
  /** Adds the parts, in order, after what was appended before (one append at a time). */
  append(parts: readonly Uint8Array[]): Promise<void>;
  /** Makes the file durable and visible under its name, as `write` does. */
  commit(): Promise<void>;
  /** Gives the file up: nothing becomes visible, and what was written is removed. */
  abort(): Promise<void>;
}

/** The backend's own writer, or one that keeps the pieces in memory and writes them whole on commit. */
export async function openWriter(backend: Backend, kind: FileKind, name: string, options: { exclusive?: boolean } = {}): Promise<FileWriter> {
  if (backend.openWriter) return backend.openWriter(kind, name, options);
  const parts: Uint8Array[] = [];
  return {
    append: async (more) => void parts.push(...more),
    commit: () => backend.write(kind, name, parts, options),
    abort: async () => void parts.splice(0),
  };
}

/** A file name the repository itself would write: hex ids, `config`, and nothing that could leave its folder. */
export function isSafeFileName(name: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(name) && !name.includes('..');
}
