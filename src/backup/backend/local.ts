import { link, mkdir, open, readdir, rename, stat, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { BulwarkError, isBulwarkError } from '../../core/errors.js';
import { fsyncDir } from '../../core/fs.js';
import { FILE_KINDS, isSafeFileName } from './backend.js';
import type { Backend, ByteRange, FileInfo, FileKind, FileWriter } from './backend.js';
import { checkKind, checkRange, dataShards, filePath, shortFileError, writeParts } from './layout.js';

const FOLDER_MODE = 0o700;
const FILE_MODE = 0o600;
/** How many files of a folder `list` stats at once. */
const STAT_BATCH = 32;

/**
 * A repository in a local directory (or anything mounted as one: NFS, a USB disk).
 * Files are private to the owner (0600, folders 0700) and published atomically:
 * each is written to a temp file beside its final name (a dot name, which `list`
 * skips), fsynced, then renamed into place and the folder fsynced, so a crash
 * leaves either the whole file or no file.
 */
/** Packs kept open for ranged reads. */
const OPEN_PACKS = 16;

/** Exactly `range.length` bytes from `range.offset`; REPOSITORY_DAMAGED when the file ends first. */
async function readRange(handle: FileHandle, range: ByteRange, kind: FileKind, name: string): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(range.length);
  let filled = 0;
  while (filled < range.length) {
    const { bytesRead } = await handle.read(buffer, filled, range.length - filled, range.offset + filled);
    if (bytesRead === 0) throw shortFileError(kind, name, range, filled);
    filled += bytesRead;
  }
  return buffer;
}

export class LocalBackend implements Backend {
  readonly location: string;
  readonly #root: string;
  readonly #packs = new Map<string, { handle: Promise<FileHandle>; users: number }>();

  constructor(root: string) {
    this.#root = resolve(root);
    this.location = this.#root;
  }

  async create(): Promise<void> {
    if (await this.#exists(join(this.#root, 'config'))) {
      throw new BulwarkError('CONFLICT', `A backup repository already exists at ${this.#root}; choose another location or use that repository.`);
    }
    const folders = [
      ...FILE_KINDS.filter((kind) => kind !== 'config').map((kind) => join(this.#root, kind)),
      ...dataShards().map((shard) => join(this.#root, 'data', shard)),
    ];
    try {
      const firstCreated = await mkdir(this.#root, { recursive: true, mode: FOLDER_MODE });
      for (const folder of folders) await mkdir(folder, { recursive: true, mode: FOLDER_MODE });
      await syncFolder(join(this.#root, 'data'));
      await syncFolder(this.#root);
      // Each folder this call made above the root's contents is a new entry in its parent.
      if (firstCreated !== undefined) {
        for (let dir = this.#root; ; dir = dirname(dir)) {
          await syncFolder(dirname(dir));
          if (dir === firstCreated || dir === dirname(dir)) break;
        }
      }
    } catch (err) {
      throw storageError(err, 'create the repository folders in', this.#root);
    }
  }

  async *list(kind: FileKind): AsyncGenerator<FileInfo> {
    if (kind === 'config') {
      const info = await this.stat('config', 'config');
      if (info === undefined) await this.#requireRoot();
      else yield info;
      return;
    }
    checkKind(kind);
    const folder = join(this.#root, kind);
    const names = await this.#readFolder(folder, kind);
    if (kind !== 'data') {
      yield* this.#statAll(folder, names);
      return;
    }
    for (const shard of names.filter((n) => /^[0-9a-f]{2}$/.test(n))) {
      const shardFolder = join(folder, shard);
      let packs: string[];
      try {
        packs = await readdir(shardFolder);
      } catch (err) {
        // A shard folder that is gone (or is not a folder) holds no packs.
        if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') continue;
        throw storageError(err, 'list', shardFolder);
      }
      // A pack outside its own shard could not be read by its name, so it is not listed.
      yield* this.#statAll(shardFolder, packs.filter((pack) => pack.startsWith(shard)));
    }
  }

  async read(kind: FileKind, name: string, range?: ByteRange): Promise<Buffer> {
    const path = join(this.#root, filePath(kind, name));
    if (range !== undefined) checkRange(range);
    if (kind === 'data' && range !== undefined && range.length > 0) return this.#readPackRange(path, kind, name, range);
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (err) {
      throw await this.#missingOr(err, kind, name, 'read', path);
    }
    try {
      if (range === undefined) return await handle.readFile();
      if (range.length === 0) {
        const size = (await handle.stat()).size;
        if (size < range.offset) throw shortFileError(kind, name, range, 0);
        return Buffer.alloc(0);
      }
      return await readRange(handle, range, kind, name);
    } catch (err) {
      throw storageError(err, 'read', path);
    } finally {
      await handle.close();
    }
  }

  async write(kind: FileKind, name: string, data: Uint8Array | readonly Uint8Array[], options: { exclusive?: boolean } = {}): Promise<void> {
    const writer = await this.openWriter(kind, name, options);
    try {
      await writer.append(writeParts(data));
    } catch (err) {
      await writer.abort();
      throw err;
    }
    await writer.commit();
  }

  /**
   * A temp file beside the final name, appended to as pieces come; `commit` fsyncs
   * it, publishes it (link or rename) and fsyncs the folder. Whatever fails, the
   * temp file goes; a crash leaves it behind under a dot name `list` skips.
   */
  async openWriter(kind: FileKind, name: string, options: { exclusive?: boolean } = {}): Promise<FileWriter> {
    const path = join(this.#root, filePath(kind, name));
    const folder = dirname(path);
    const temp = join(folder, `.${name}.${randomBytes(8).toString('hex')}.tmp`);
    const handle = await this.#openTemp(temp, folder);
    let handleOpen = true;
    const drop = async (): Promise<void> => {
      if (handleOpen) {
        handleOpen = false;
        await handle.close().catch(() => undefined);
      }
      await unlink(temp).catch(() => undefined);
    };
    return {
      append: async (parts) => {
        try {
          await writeAll(handle, parts);
        } catch (err) {
          throw storageError(err, 'write', path);
        }
      },
      commit: async () => {
        try {
          await handle.sync();
          handleOpen = false;
          await handle.close();
          if (options.exclusive === true) await this.#publishExclusive(temp, path, kind, name);
          else await rename(temp, path);
        } catch (err) {
          throw storageError(err, 'write', path);
        } finally {
          // After a rename the temp name is gone already; after a link or a failure it must go.
          await drop();
        }
        await syncFolder(folder).catch((err: unknown) => {
          throw storageError(err, 'sync the folder', folder);
        });
      },
      abort: drop,
    };
  }

  async remove(kind: FileKind, name: string): Promise<void> {
    const path = join(this.#root, filePath(kind, name));
    try {
      await unlink(path);
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw storageError(err, 'remove', path);
    }
  }

  async stat(kind: FileKind, name: string): Promise<FileInfo | undefined> {
    const path = join(this.#root, filePath(kind, name));
    try {
      const info = await stat(path);
      if (!info.isFile()) throw new BulwarkError('STORAGE_FAILED', `${path} is not a regular file; the repository folder was changed by something else.`);
      return { name, size: info.size, modified: info.mtimeMs };
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return undefined;
      throw storageError(err, 'read the size of', path);
    }
  }

  /**
   * Blobs are read one range at a time, many from the same pack (a restore, a
   * check): the pack stays open between reads (a few at a time, least recently
   * used closed first) instead of an open and close per blob. Packs are never
   * rewritten in place, so an open one always holds what its name says.
   */
  async #readPackRange(path: string, kind: FileKind, name: string, range: ByteRange): Promise<Buffer> {
    let entry = this.#packs.get(name);
    if (entry === undefined) {
      entry = { handle: open(path, 'r'), users: 0 };
      this.#packs.set(name, entry);
    } else {
      // Most recently used last.
      this.#packs.delete(name);
      this.#packs.set(name, entry);
    }
    // Counted before any await: an entry in use (or still opening) is never evicted and closed under its reader.
    entry.users++;
    try {
      let handle: FileHandle;
      try {
        handle = await entry.handle;
      } catch (err) {
        if (this.#packs.get(name) === entry) this.#packs.delete(name);
        throw await this.#missingOr(err, kind, name, 'read', path);
      }
      return await readRange(handle, range, kind, name).catch((err: unknown) => {
        throw storageError(err, 'read', path);
      });
    } finally {
      entry.users--;
      this.#evictPacks();
    }
  }

  #evictPacks(): void {
    for (const [name, entry] of this.#packs) {
      if (this.#packs.size <= OPEN_PACKS) return;
      if (entry.users > 0) continue;
      this.#packs.delete(name);
      void entry.handle.then((h) => h.close()).catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    const open = [...this.#packs.values()];
    this.#packs.clear();
    await Promise.all(open.map((e) => e.handle.then((h) => h.close()).catch(() => undefined)));
  }

  /** The temp file, exclusively created; a missing folder is made (as restic does), a missing repository is an error. */
  async #openTemp(temp: string, folder: string): Promise<FileHandle> {
    try {
      return await open(temp, 'wx', FILE_MODE);
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw storageError(err, 'write to', folder);
    }
    await this.#requireRoot();
    try {
      await mkdir(folder, { recursive: true, mode: FOLDER_MODE });
      return await open(temp, 'wx', FILE_MODE);
    } catch (err) {
      throw storageError(err, 'write to', folder);
    }
  }

  /**
   * A hard link fails with EEXIST when the name is taken, so publishing cannot
   * replace a file another writer just published. File systems without hard links
   * (FAT, exFAT, some FUSE and SMB mounts) get a check-then-rename instead, which
   * a concurrent writer could race.
   */
  async #publishExclusive(temp: string, path: string, kind: FileKind, name: string): Promise<void> {
    try {
      await link(temp, path);
      return;
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'EEXIST') throw conflict(kind, name, this.#root);
      if (code === undefined || !NO_HARD_LINKS.has(code)) throw err;
    }
    if (await this.#exists(path)) throw conflict(kind, name, this.#root);
    await rename(temp, path);
  }

  async #readFolder(folder: string, kind: FileKind): Promise<string[]> {
    try {
      return await readdir(folder);
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw storageError(err, 'list', folder);
      await this.#requireRoot();
      throw new BulwarkError('REPOSITORY_NOT_FOUND', `No backup repository at ${this.#root}: its ${kind}/ folder is missing.`);
    }
  }

  async *#statAll(folder: string, names: readonly string[]): AsyncGenerator<FileInfo> {
    // Temp files start with a dot; anything else the repository could not have written is not ours.
    const files = names.filter((n) => !n.startsWith('.') && isSafeFileName(n));
    for (let i = 0; i < files.length; i += STAT_BATCH) {
      const batch = await Promise.all(files.slice(i, i + STAT_BATCH).map((n) => this.#sizeOf(folder, n)));
      for (const info of batch) if (info !== undefined) yield info;
    }
  }

  async #sizeOf(folder: string, name: string): Promise<FileInfo | undefined> {
    const path = join(folder, name);
    try {
      const info = await stat(path);
      return info.isFile() ? { name, size: info.size, modified: info.mtimeMs } : undefined;
    } catch (err) {
      // Removed between the listing and the stat (a concurrent prune): no longer there.
      if (errnoCode(err) === 'ENOENT') return undefined;
      throw storageError(err, 'read the size of', path);
    }
  }

  async #missingOr(err: unknown, kind: FileKind, name: string, action: string, path: string): Promise<unknown> {
    if (errnoCode(err) !== 'ENOENT') return storageError(err, action, path);
    await this.#requireRoot();
    return new BulwarkError('NOT_FOUND', `${kind}/${name} does not exist in the backup repository at ${this.#root}.`);
  }

  async #requireRoot(): Promise<void> {
    if (!(await this.#exists(this.#root))) {
      throw new BulwarkError('REPOSITORY_NOT_FOUND', `No backup repository at ${this.#root}: the folder does not exist.`);
    }
  }

  async #exists(path: string): Promise<boolean> {
    try {
      await stat(path);
      return true;
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return false;
      throw storageError(err, 'look for', path);
    }
  }
}

/** Writes every part in order with vectored writes, carrying on after a short write. */
async function writeAll(handle: FileHandle, parts: readonly Uint8Array[]): Promise<void> {
  let pending = parts.filter((p) => p.byteLength > 0);
  while (pending.length > 0) {
    let { bytesWritten } = await handle.writev(pending);
    if (bytesWritten === 0) throw new BulwarkError('STORAGE_FAILED', 'The file system accepted no bytes of a write.');
    const rest: Uint8Array[] = [];
    for (const part of pending) {
      if (bytesWritten >= part.byteLength) bytesWritten -= part.byteLength;
      else {
        rest.push(bytesWritten > 0 ? part.subarray(bytesWritten) : part);
        bytesWritten = 0;
      }
    }
    pending = rest;
  }
}

/** Folder fsync, except where the file system has none (some network mounts answer EINVAL). */
async function syncFolder(folder: string): Promise<void> {
  try {
    await fsyncDir(folder);
  } catch (err) {
    const code = errnoCode(err);
    if (code !== 'EINVAL' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw err;
  }
}

function conflict(kind: FileKind, name: string, root: string): BulwarkError {
  return new BulwarkError('CONFLICT', `${kind}/${name} already exists in the backup repository at ${root}; it was left unchanged.`);
}

/** Codes with which `link` says the file system has no hard links. */
const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV']);

const ERRNO_TEXT: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EIO: 'input/output error',
  EROFS: 'read-only file system',
  ENOTDIR: 'a part of the path is not a folder',
  EISDIR: 'a folder is where a file should be',
  ENOENT: 'no such file or folder',
  EEXIST: 'something else is already there',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files in the system',
  ESTALE: 'stale network file handle',
};

function errnoCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** STORAGE_FAILED naming the errno and the path; BulwarkErrors and non-fs errors pass through. */
function storageError(err: unknown, action: string, path: string): unknown {
  if (isBulwarkError(err)) return err;
  const code = errnoCode(err);
  if (code === undefined) return err;
  const text = ERRNO_TEXT[code];
  return new BulwarkError('STORAGE_FAILED', `Could not ${action} ${path}: ${code}${text === undefined ? '' : ` (${text})`}.`);
}
