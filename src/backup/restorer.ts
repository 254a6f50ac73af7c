import { randomBytes } from 'node:crypto';
import { closeSync, constants, fchmodSync, fchownSync, ftruncateSync, futimesSync, open as openFd, write as writeFd } from 'node:fs';
import { lchown, type FileHandle, link, lstat, lutimes, mkdir, open, realpath, rename, stat, symlink, unlink } from 'node:fs/promises';
import { posix } from 'node:path';
import { BulwarkError } from '../core/errors.js';
import { fetchBlobs, type WantedBlob } from './blob-fetch.js';
import { mapLimit, Semaphore } from './concurrency.js';
import { BLOB_DATA, type BlobType } from './crypto.js';
import { DirHandle } from './dir-handle.js';
import { RepositoryLock } from './lock.js';
import type { Repository } from './repository.js';
import { WorkerPool } from './worker-pool.js';
import { writeSparse, type PositionalWrite } from './sparse-write.js';
import { isSafeName, type TreeNode } from './tree.js';

export interface RestoreProblem {
  /** Path inside the snapshot (`/etc/app/x`). */
  path: string;
  message: string;
  code: 'UNSAFE_PATH' | 'REPOSITORY_DAMAGED' | 'STORAGE_FAILED' | 'IO';
}

export interface RestoreProgress {
  filesDone: number;
  bytesDone: number;
  totalFiles: number;
  totalBytes: number;
}

export interface RestoreOptions {
  /** Directory to restore into (made when missing). */
  target: string;
  /** Paths inside the snapshot to restore (with everything below them); all when empty. */
  include?: readonly string[];
  /** Restore owners (uid/gid). Default: when running as root, as only root can. */
  owners?: boolean;
  /** Decrypts and verifies blobs (a worker pool's `openBlob`); default: on this thread. */
  openBlob?: (type: BlobType, id: Uint8Array, sealed: Buffer, rawLength: number) => Promise<Buffer>;
  onProgress?: (progress: RestoreProgress) => void;
  /**
   * Asked with the real path of the target directory as opened (after every
   * symlink on the way was resolved, and too late for anyone to swap it): a
   * reason to refuse it, or undefined. What is then restored goes into that
   * open directory.
   */
  refuseTarget?: (realTarget: string) => string | undefined;
}

export interface RestoreResult {
  files: number;
  dirs: number;
  symlinks: number;
  bytes: number;
  /** What could not be restored; everything else was. */
  problems: RestoreProblem[];
}

/**
 * Files up to this size are restored in batches: the blobs of a batch are read
 * in pack order (neighbours in one read, instead of a read each) and opened,
 * then the files are written. For a small file every asynchronous fs call is a
 * round trip through libuv's thread pool (futex waits, thread switches) that
 * costs more than the system call itself, so only creating and writing go
 * there; mode, times and close are direct calls on the new descriptor.
 */
const SMALL_FILE_BYTES = 256 * 1024;
const BATCH_FILES = 256;
const BATCH_BYTES = 4 * 1024 * 1024;
/** Batches being fetched at once: one is written while the next is read and opened. */
const BATCHES_IN_FLIGHT = 3;
/**
 * Small files of a batch being created and written at once. Creating a file
 * costs tens of µs in the kernel (ext4 inode allocation, the directory's lock),
 * and the pool must never run dry: 8 measured slower than 16 and 32 here.
 */
const SMALL_WRITES_IN_FLIGHT = 32;
/** Larger files restored at once, and blobs fetched at once per file (blobs are ~1 MiB, up to 8 MiB). */
const FILES_IN_FLIGHT = 4;
const BLOBS_PER_FILE = 4;
/**
 * Blobs this large are opened (decrypted, decompressed, hashed) on a worker
 * thread: the main thread is busy with the files, and on a large blob the
 * hand-off costs little against the work. Small ones stay here, where a
 * message each would cost more than opening them.
 */
const OFFLOAD_BYTES = 128 * 1024;
/** Directories restored side by side (each holds an open descriptor), and how deep in the tree they may start. */
const DIRS_IN_FLIGHT = 8;
const PARALLEL_DIR_DEPTH = 32;

function unsafe(path: string, why: string): RestoreProblem {
  return { path, message: `refused: ${why}`, code: 'UNSAFE_PATH' };
}

/**
 * Seconds for utimes. Node takes a double (precise to about 0.2 µs for present-day
 * times) and the time set is cut to whole microseconds, so the value is rounded to
 * the nearest microsecond first: restored times are within half a microsecond.
 */
function nsToSeconds(ns: string): number {
  const us = (BigInt(ns) + 500n) / 1000n;
  // Half a microsecond more than the whole one, so the double's error cannot cut it to the one below.
  return Number(us / 1_000_000n) + (Number(us % 1_000_000n) + 0.5) / 1e6;
}

/** Deeper trees are refused: no real file system nests this far, and a crafted one must not exhaust the stack. */
export const MAX_TREE_DEPTH = 1024;
/** Linux's NAME_MAX, in bytes. */
const MAX_NAME_BYTES = 255;
const SETID_BITS = 0o6000;
/** Directories held open for hard links; past this, further hard-linked files are restored as copies. */
const MAX_LINK_DIRS = 256;

function errno(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
}

const CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

function tempName(): string {
  return `.bulwark-restore-${randomBytes(6).toString('hex')}`;
}

/** A file's problem code for an error met while reading its data. */
function dataCode(err: unknown): RestoreProblem['code'] {
  const code = (err as BulwarkError).code;
  return code === 'REPOSITORY_DAMAGED' || code === 'STORAGE_FAILED' ? code : code === 'NOT_FOUND' ? 'REPOSITORY_DAMAGED' : 'IO';
}

/** open(2) on libuv's thread pool, giving the bare descriptor (a FileHandle costs a round trip more to close). */
function openAsync(path: string, flags: number, mode: number): Promise<number> {
  return new Promise((resolve, reject) => openFd(path, flags, mode, (err, fd) => (err ? reject(err) : resolve(fd))));
}

function fdWriter(fd: number): PositionalWrite {
  return (buffer, offset, length, position) => new Promise((resolve, reject) => writeFd(fd, buffer, offset, length, position, (err, written) => (err ? reject(err) : resolve(written))));
}

interface SmallFile {
  node: TreeNode;
  display: string;
}

/**
 * Restores a snapshot's tree (or parts of it) into a directory, never writing
 * outside it, even while someone who can write inside the target renames and
 * swaps directories under it:
 * - names are single path components (no `/`, `.`, `..`, at most 255 bytes);
 * - every directory is opened (`O_DIRECTORY|O_NOFOLLOW`) and everything in it is
 *   created through that open descriptor, so a directory swapped for a symlink
 *   after it was checked redirects nothing; a symlink where a directory goes is refused;
 * - files are created exclusively (`O_EXCL|O_NOFOLLOW`): under their own name in a
 *   directory this restore made (private to it until its mode is set last),
 *   elsewhere under a fresh temporary name renamed into place (an existing
 *   symlink at the name is replaced, never followed); their mode, owner and
 *   times are set on the open file;
 * - symlinks are created as links and never followed;
 * - set-uid/set-gid bits come back only with their owner (when run as root and
 *   the owner could be set): a snapshot cannot make a set-uid program for whoever restores it.
 * A file that cannot be restored (damaged data, refused path) is reported and the rest goes on.
 */
export class Restorer {
  readonly result: RestoreResult = { files: 0, dirs: 0, symlinks: 0, bytes: 0, problems: [] };
  readonly #files = new Semaphore(FILES_IN_FLIGHT);
  readonly #batches = new Semaphore(BATCHES_IN_FLIGHT);
  readonly #dirSlots = new Semaphore(DIRS_IN_FLIGHT);
  /** Directories this restore made: nothing else can have put a name in them. */
  readonly #made = new WeakSet<DirHandle>();
  readonly #madeInodes = new Set<string>();
  readonly #euid = process.geteuid?.();
  /** Started on the first large blob; closed at the end of `run`. */
  #pool: WorkerPool | undefined;
  /** First restored copy of each hard-linked inode: its directory, name and inode (a promise: it may still be in flight). */
  readonly #links = new Map<string, Promise<{ dir: DirHandle; name: string; ino: number } | undefined>>();
  readonly #owners: boolean;
  readonly #include: string[][];
  /** Directories kept open while a hard link may still point into them. */
  readonly #keepOpen = new Set<DirHandle>();
  #progress: RestoreProgress = { filesDone: 0, bytesDone: 0, totalFiles: 0, totalBytes: 0 };

  constructor(
    private readonly repo: Repository,
    private readonly options: RestoreOptions,
  ) {
    this.#owners = options.owners ?? process.getuid?.() === 0;
    this.#include = (options.include ?? []).map((p) => {
      const parts = posix.normalize(`/${p}`).split('/').filter((x) => x.length > 0);
      if (parts.some((x) => x === '..')) throw new BulwarkError('BAD_REQUEST', `--include ${p} must be a path inside the snapshot`);
      return parts;
    });
  }

  /** 'all' when the path and everything below are wanted, 'on-the-way' for an ancestor of an included path, 'no' otherwise. */
  #wanted(parts: readonly string[]): 'all' | 'on-the-way' | 'no' {
    if (this.#include.length === 0) return 'all';
    let best: 'on-the-way' | 'no' = 'no';
    for (const inc of this.#include) {
      const common = Math.min(inc.length, parts.length);
      if (!inc.slice(0, common).every((p, i) => p === parts[i])) continue;
      if (parts.length >= inc.length) return 'all';
      best = 'on-the-way';
    }
    return best;
  }

  async run(treeId: string): Promise<RestoreResult> {
    const { root, made } = await this.#openTarget();
    try {
      if (made) await this.#markIfPrivate(root);
      const refusal = this.options.refuseTarget?.(await realpath(root.at('.')));
      if (refusal !== undefined) throw new BulwarkError('BAD_REQUEST', `the restore target ${this.options.target} is refused: ${refusal}`);
      await this.#count(treeId, [], 0);
      await this.#dir(treeId, root, [], this.#include.length === 0 ? 'all' : 'on-the-way', 0);
    } finally {
      await root.close();
      for (const dir of this.#keepOpen) await dir.close().catch(() => undefined);
      await this.#pool?.close();
    }
    return this.result;
  }

  /** Totals for progress (trees are small and cached by the OS; data is not read). */
  async #count(treeId: string, parts: string[], depth: number): Promise<void> {
    if (!this.options.onProgress || depth > MAX_TREE_DEPTH) return;
    const tree = await this.repo.loadTree(treeId).catch(() => undefined);
    for (const node of tree?.nodes ?? []) {
      const path = [...parts, node.name];
      const wanted = this.#wanted(path);
      if (wanted === 'no') continue;
      if (node.type === 'dir' && node.subtree) await this.#count(node.subtree, path, depth + 1);
      else if (node.type === 'file' && wanted === 'all') {
        this.#progress.totalFiles++;
        this.#progress.totalBytes += node.size ?? 0;
      }
    }
  }

  #problem(problem: RestoreProblem): void {
    this.result.problems.push(problem);
  }

  /**
   * Opens the target, making it (0700) when it is missing. A symlink that is
   * the target when the restore starts is the user's choice and is followed;
   * otherwise the last component is made and opened through its parent's
   * descriptor with O_NOFOLLOW, so a user who can write the parent cannot swap
   * in a link (to /root, say) between the mkdir and the open.
   */
  async #openTarget(): Promise<{ root: DirHandle; made: boolean }> {
    const target = posix.resolve(this.options.target);
    const fail = (what: string, err: unknown): BulwarkError => new BulwarkError('BAD_REQUEST', `cannot ${what} the restore target ${this.options.target} (${errno(err)})`);
    const st = await lstat(target).catch(() => undefined);
    if (st?.isSymbolicLink() || target === '/') {
      const real = await realpath(target).catch((err: unknown) => {
        throw fail('resolve', err);
      });
      if (!(await stat(real)).isDirectory()) throw new BulwarkError('BAD_REQUEST', `the restore target ${this.options.target} is not a directory`);
      return { root: await DirHandle.open(real, '/'), made: false };
    }
    if (st && !st.isDirectory()) throw new BulwarkError('BAD_REQUEST', `the restore target ${this.options.target} is not a directory`);
    const parentPath = posix.dirname(target);
    const leaf = posix.basename(target);
    if (!st) await mkdir(parentPath, { recursive: true, mode: 0o700 }).catch((err: unknown) => Promise.reject(fail('make', err)));
    const parent = await DirHandle.open(await realpath(parentPath), posix.dirname(this.options.target));
    try {
      let made = false;
      if (!st) {
        made = await mkdir(parent.at(leaf), { mode: 0o700 }).then(
          () => true,
          (err: unknown) => (errno(err) === 'EEXIST' ? false : Promise.reject(fail('make', err))),
        );
      }
      const root = await parent.child(leaf, '/').catch((err: unknown) => {
        throw errno(err) === 'ELOOP' ? new BulwarkError('BAD_REQUEST', `the restore target ${this.options.target} became a symbolic link while the restore started; nothing was written`) : fail('open', err);
      });
      return { root, made };
    } finally {
      await parent.close();
    }
  }

  /**
   * Counts a directory this restore just made as its own (files then go straight
   * under their names) when what was opened is private to this user: the name
   * may have been swapped for someone else's directory between mkdir and open.
   */
  async #markIfPrivate(dir: DirHandle): Promise<void> {
    // A failed stat only means files go the careful way (temporary name, then rename).
    const st = await dir.handle.stat().catch(() => undefined);
    if (st === undefined || st.uid !== this.#euid || (st.mode & 0o077) !== 0) return;
    // One directory renamed over another this restore made (by whoever can write their parent) is not made twice.
    const inode = `${st.dev}:${st.ino}`;
    if (this.#madeInodes.has(inode)) return;
    this.#madeInodes.add(inode);
    this.#made.add(dir);
  }

  /** Opens (making it first if needed) the real directory `name` in `parent`; a symlink there is refused, never followed. */
  async #openDir(parent: DirHandle, name: string, display: string): Promise<DirHandle | undefined> {
    const st = await lstat(parent.at(name)).catch(() => undefined);
    if (st?.isSymbolicLink()) {
      this.#problem(unsafe(display, 'a symbolic link stands where a directory goes; nothing is written through it'));
      return undefined;
    }
    if (st && !st.isDirectory()) {
      this.#problem({ path: display, message: 'a file that is not a directory is in the way', code: 'IO' });
      return undefined;
    }
    try {
      if (!st) await mkdir(parent.at(name), { mode: 0o700 });
      const child = await parent.child(name, display);
      if (!st) await this.#markIfPrivate(child);
      return child;
    } catch (err) {
      // ELOOP: it became a symlink between the check and the open.
      if (errno(err) === 'ELOOP') this.#problem(unsafe(display, 'a symbolic link stands where a directory goes; nothing is written through it'));
      else this.#problem({ path: display, message: `directory not restored (${errno(err)})`, code: 'IO' });
      return undefined;
    }
  }

  async #dir(treeId: string, dir: DirHandle, parts: string[], wanted: 'all' | 'on-the-way', depth: number): Promise<void> {
    const display = `/${parts.join('/')}`;
    let nodes: TreeNode[];
    try {
      if (depth > MAX_TREE_DEPTH) throw new BulwarkError('REPOSITORY_DAMAGED', `the tree is nested deeper than ${MAX_TREE_DEPTH} directories`);
      nodes = (await this.repo.loadTree(treeId)).nodes;
    } catch (err) {
      this.#problem({ path: display, message: `directory not restored: ${(err as Error).message}`, code: (err as BulwarkError).code === 'STORAGE_FAILED' ? 'STORAGE_FAILED' : 'REPOSITORY_DAMAGED' });
      return;
    }
    const pending: Promise<void>[] = [];
    let batch: SmallFile[] = [];
    let batchBytes = 0;
    const sendBatch = async (): Promise<void> => {
      const files = batch;
      batch = [];
      batchBytes = 0;
      await this.#batches.acquire();
      pending.push(this.#smallFiles(files, dir).finally(() => this.#batches.release()));
    };
    for (const node of nodes) {
      const childParts = [...parts, node.name];
      const childDisplay = `/${childParts.join('/')}`;
      if (!isSafeName(node.name) || Buffer.byteLength(node.name) > MAX_NAME_BYTES) {
        this.#problem(unsafe(childDisplay, `the name ${JSON.stringify(node.name.slice(0, 64))} is not a single file name`));
        continue;
      }
      const want = wanted === 'all' ? 'all' : this.#wanted(childParts);
      if (want === 'no') continue;
      if (node.type === 'dir') {
        if (!node.subtree) continue;
        const subtree = node.subtree;
        const walk = async (): Promise<void> => {
          const child = await this.#openDir(dir, node.name, childDisplay);
          if (!child) return;
          try {
            await this.#dir(subtree, child, childParts, want, depth + 1);
            await this.#meta(node, child.handle, childDisplay);
            this.result.dirs++;
          } finally {
            if (!this.#keepOpen.has(child)) await child.close().catch(() => undefined);
          }
        };
        // Siblings go side by side while slots are free (so one directory's reads overlap another's writes); otherwise in turn.
        // Only near the top: deep down, side-by-side chains would hold a descriptor per level each.
        if (depth < PARALLEL_DIR_DEPTH && this.#dirSlots.tryAcquire()) pending.push(walk().finally(() => this.#dirSlots.release()));
        else await walk();
        continue;
      }
      if (want !== 'all') continue;
      if (node.type === 'file') {
        const hardLinked = node.links !== undefined && node.links > 1 && node.inode !== undefined;
        // What the index says the content holds, not what the node claims: a batch's memory is bounded by real sizes.
        const size = this.#contentBytes(node);
        if (!hardLinked && size <= SMALL_FILE_BYTES) {
          batch.push({ node, display: childDisplay });
          batchBytes += size;
          if (batch.length >= BATCH_FILES || batchBytes >= BATCH_BYTES) await sendBatch();
          continue;
        }
        await this.#files.acquire();
        pending.push(this.#file(node, dir, childDisplay).finally(() => this.#files.release()));
      } else if (node.type === 'symlink') {
        await this.#symlink(node, dir, childDisplay);
      }
      // Devices, FIFOs and sockets are recorded, not re-created: making device nodes from a backup is a privilege to grant deliberately.
    }
    if (batch.length > 0) await sendBatch();
    await Promise.all(pending);
  }

  /**
   * Restores a batch of small files of one directory: their blobs are read in
   * pack order and opened first, then each file is written with direct system
   * calls. A file whose data cannot be read is reported and not created.
   */
  async #smallFiles(files: readonly SmallFile[], dir: DirHandle): Promise<void> {
    const wanted = new Map<string, WantedBlob>();
    const ready: { file: SmallFile; ids: string[]; size: number }[] = [];
    for (const file of files) {
      const ids = file.node.content ?? [];
      let size = 0;
      let missing: string | undefined;
      for (const hex of ids) {
        const id = Buffer.from(hex, 'hex');
        const location = this.repo.locate(id);
        if (!location || location.type !== BLOB_DATA) {
          missing = hex;
          break;
        }
        size += location.rawLength;
        if (!wanted.has(hex)) wanted.set(hex, { id, location });
      }
      if (missing !== undefined) {
        this.#problem({ path: file.display, message: `file not restored: data blob ${missing.slice(0, 12)} is in no index`, code: 'REPOSITORY_DAMAGED' });
        continue;
      }
      ready.push({ file, ids, size });
    }
    let blobs: Map<string, Buffer | Error>;
    try {
      blobs = await fetchBlobs(this.repo.backend, [...wanted.values()], (blob, sealed) => this.#open(blob.id, sealed, blob.location.rawLength));
    } catch (err) {
      for (const { file } of ready) this.#problem({ path: file.display, message: `file not restored: ${(err as Error).message}`, code: dataCode(err) });
      return;
    }
    const writes: { file: SmallFile; data: Buffer[]; size: number }[] = [];
    for (const { file, ids, size } of ready) {
      const data: Buffer[] = [];
      let failure: Error | undefined;
      for (const hex of ids) {
        const got = blobs.get(hex);
        if (got === undefined || got instanceof Error) {
          failure = got ?? new BulwarkError('INTERNAL', `data blob ${hex.slice(0, 12)} was not fetched`);
          break;
        }
        data.push(got);
      }
      if (failure) this.#problem({ path: file.display, message: `file not restored: ${failure.message}`, code: dataCode(failure) });
      else writes.push({ file, data, size });
    }
    await mapLimit(writes, SMALL_WRITES_IN_FLIGHT, ({ file, data, size }) => this.#writeSmall(file, dir, data, size));
  }

  /** Plaintext bytes of a file's content by the index (blobs it lacks count nothing: the file will be reported). */
  #contentBytes(node: TreeNode): number {
    let size = 0;
    for (const hex of node.content ?? []) size += this.repo.index.get(Buffer.from(hex, 'hex'))?.rawLength ?? 0;
    return size;
  }

  #open(id: Buffer, sealed: Buffer, rawLength: number): Promise<Buffer> {
    if (this.options.openBlob) return this.options.openBlob(BLOB_DATA, id, sealed, rawLength);
    if (rawLength < OFFLOAD_BYTES) return this.repo.openBlob(BLOB_DATA, id, sealed, rawLength);
    // One worker: with the main thread that is a core each on the 2-core machines this is measured on.
    this.#pool ??= new WorkerPool(this.repo.keys, undefined, 1);
    return this.#pool.openBlob(BLOB_DATA, id, sealed, rawLength);
  }

  /**
   * Creates `name` in `dir` for writing: under its own name in a directory this
   * restore made (when nothing is there), otherwise under a temporary name to be
   * renamed over it. Returns the descriptor and the temporary name, if any.
   */
  async #create(dir: DirHandle, name: string): Promise<{ fd: number; temp?: string }> {
    if (this.#made.has(dir)) {
      try {
        return { fd: await openAsync(dir.at(name), CREATE_FLAGS, 0o600) };
      } catch (err) {
        // Taken already (not by this restore: trees name each entry once): replace it the careful way.
        if (errno(err) !== 'EEXIST') throw err;
      }
    }
    const temp = tempName();
    return { fd: await openAsync(dir.at(temp), CREATE_FLAGS, 0o600), temp };
  }

  /** Writes one small file whose data is in memory. Never throws: a failure is reported. */
  async #writeSmall(file: SmallFile, dir: DirHandle, data: readonly Buffer[], size: number): Promise<void> {
    const { node, display } = file;
    let created: { fd: number; temp?: string };
    try {
      created = await this.#create(dir, node.name);
    } catch (err) {
      this.#problem({ path: display, message: `cannot create the file (${errno(err)})`, code: 'IO' });
      return;
    }
    let fd = created.fd;
    try {
      const write = fdWriter(fd);
      let position = 0;
      let reached = 0;
      for (const piece of data) {
        const end = await writeSparse(write, piece, position);
        // Only the offset reached by the file's last written byte counts (a piece of zeros writes nothing).
        if (end > position) reached = Math.max(reached, end);
        position += piece.length;
      }
      // A file ending in zeros (a sparse tail, or an empty file) gets its length here; others have it already.
      if (reached < size) ftruncateSync(fd, size);
      this.#metaSync(node, fd, display);
      // Forgotten before closing: a close that fails has freed the number all the same, and it may be reused at once.
      const open = fd;
      fd = -1;
      closeSync(open);
      if (created.temp !== undefined) await rename(dir.at(created.temp), dir.at(node.name));
      this.result.files++;
      this.result.bytes += size;
      this.#progress.filesDone++;
      this.#progress.bytesDone += size;
      this.options.onProgress?.(this.#progress);
    } catch (err) {
      try {
        if (fd >= 0) closeSync(fd);
      } catch {
        // the write's error is the one to report
      }
      // Only what this call created goes: under its own name it was made with O_EXCL in a directory of this restore.
      await unlink(dir.at(created.temp ?? node.name)).catch(() => undefined);
      this.#problem({ path: display, message: `file not restored: ${errno(err)}`, code: 'IO' });
    }
  }

  /** #meta for a file this restore just created, with direct system calls. */
  #metaSync(node: TreeNode, fd: number, display: string): void {
    try {
      let owned = false;
      if (this.#owners) {
        // Always set: a new file in a set-gid directory takes the directory's group, not ours.
        try {
          fchownSync(fd, node.uid, node.gid);
          owned = true;
        } catch {
          owned = false;
        }
      }
      fchmodSync(fd, owned ? node.mode : node.mode & ~SETID_BITS);
      const time = nsToSeconds(node.mtimeNs);
      futimesSync(fd, time, time);
    } catch (err) {
      this.#problem({ path: display, message: `metadata not restored (${errno(err)})`, code: 'IO' });
    }
  }

  async #symlink(node: TreeNode, dir: DirHandle, display: string): Promise<void> {
    const path = dir.at(node.name);
    try {
      const st = await lstat(path).catch(() => undefined);
      if (st?.isDirectory()) throw Object.assign(new Error('a directory is in the way'), { code: 'EEXIST' });
      if (st) await unlink(path);
      await symlink(node.target ?? '', path);
      if (this.#owners) await lchown(path, node.uid, node.gid).catch(() => undefined);
      const time = nsToSeconds(node.mtimeNs);
      await lutimes(path, time, time);
      this.result.symlinks++;
    } catch (err) {
      this.#problem({ path: display, message: `symlink not restored (${errno(err)})`, code: 'IO' });
    }
  }

  async #file(node: TreeNode, dir: DirHandle, display: string): Promise<void> {
    const linkKey = node.links !== undefined && node.links > 1 && node.inode !== undefined ? `${node.device ?? 0}:${node.inode}` : undefined;
    const earlier = linkKey === undefined ? undefined : this.#links.get(linkKey);
    let announce: ((first: { dir: DirHandle; name: string; ino: number } | undefined) => void) | undefined;
    // The first copy's directory stays open until the end (later names link to it through it), up to a bound on open descriptors.
    if (linkKey !== undefined && earlier === undefined && (this.#keepOpen.has(dir) || this.#keepOpen.size < MAX_LINK_DIRS)) {
      this.#links.set(linkKey, new Promise((resolve) => (announce = resolve)));
      this.#keepOpen.add(dir);
    }
    try {
      const first = earlier === undefined ? undefined : await earlier;
      if (first !== undefined && (await this.#link(first, dir, node.name))) {
        this.result.files++;
        return;
      }
      const ino = await this.#writeFile(node, dir, display);
      announce?.({ dir, name: node.name, ino });
    } catch {
      announce?.(undefined);
    }
  }

  /** Links `name` in `dir` to the first restored copy; false (restore a copy instead) when that is not possible or not the same file any more. */
  async #link(first: { dir: DirHandle; name: string; ino: number }, dir: DirHandle, name: string): Promise<boolean> {
    const tmp = tempName();
    try {
      await link(first.dir.at(first.name), dir.at(tmp));
      // The first name may have been replaced since it was restored: link only to what this restore wrote.
      if ((await lstat(dir.at(tmp))).ino !== first.ino) {
        await unlink(dir.at(tmp));
        return false;
      }
      await rename(dir.at(tmp), dir.at(name));
      return true;
    } catch {
      await unlink(dir.at(tmp)).catch(() => undefined);
      return false;
    }
  }

  /** Writes one file; returns its inode. Throws (after reporting) when it was not restored. */
  async #writeFile(node: TreeNode, dir: DirHandle, display: string): Promise<number> {
    let tmp: string | undefined;
    let handle: FileHandle | undefined;
    try {
      if (this.#made.has(dir)) handle = await open(dir.at(node.name), CREATE_FLAGS, 0o600).catch((err: unknown) => {
        // Taken already (not by this restore: trees name each entry once): replace it the careful way.
        if (errno(err) !== 'EEXIST') throw err;
        return undefined;
      });
      if (handle === undefined) {
        tmp = tempName();
        handle = await open(dir.at(tmp), CREATE_FLAGS, 0o600);
      }
    } catch (err) {
      this.#problem({ path: display, message: `cannot create the file (${errno(err)})`, code: 'IO' });
      throw err;
    }
    try {
      const ids = (node.content ?? []).map((h) => Buffer.from(h, 'hex'));
      const offsets: number[] = [];
      let size = 0;
      const locations = ids.map((id) => {
        const loc = this.repo.locate(id);
        if (!loc || loc.type !== BLOB_DATA) throw new BulwarkError('REPOSITORY_DAMAGED', `data blob ${id.toString('hex').slice(0, 12)} is in no index`);
        offsets.push(size);
        size += loc.rawLength;
        return loc;
      });
      const h = handle;
      const write: PositionalWrite = async (buffer, offset, length, position) => (await h.write(buffer, offset, length, position)).bytesWritten;
      let reached = 0;
      await mapLimit(ids, BLOBS_PER_FILE, async (id, i) => {
        const loc = locations[i] as NonNullable<(typeof locations)[number]>;
        const sealed = await this.repo.backend.read('data', loc.pack, { offset: loc.offset, length: loc.length });
        const plain = await this.#open(id, sealed, loc.rawLength);
        const end = await writeSparse(write, plain, offsets[i] as number);
        // Only the offset reached by the file's last written byte counts (trailing zeros stay a hole).
        if (end > (offsets[i] as number)) reached = Math.max(reached, end);
        this.#progress.bytesDone += plain.length;
      });
      // A file ending in zeros (a sparse tail, or an empty file) gets its length here; others have it already.
      if (reached < size) await handle.truncate(size);
      await this.#meta(node, handle, display);
      // Only a hard-linked file needs its inode (to check later links point at it); restic does not fsync restored files either.
      const ino = node.links !== undefined && node.links > 1 ? (await handle.stat()).ino : 0;
      await handle.close();
      handle = undefined;
      if (tmp !== undefined) await rename(dir.at(tmp), dir.at(node.name));
      this.result.files++;
      this.result.bytes += size;
      this.#progress.filesDone++;
      this.options.onProgress?.(this.#progress);
      return ino;
    } catch (err) {
      await handle?.close().catch(() => undefined);
      // Only what this call created goes: under its own name it was made with O_EXCL in a directory of this restore.
      await unlink(dir.at(tmp ?? node.name)).catch(() => undefined);
      this.#problem({ path: display, message: `file not restored: ${(err as Error).message}`, code: dataCode(err) });
      throw err;
    }
  }

  /**
   * Owner, mode and times, set on the open file or directory (a directory's after
   * its children). Set-id bits only go back when the owner did.
   */
  async #meta(node: TreeNode, handle: FileHandle, display: string): Promise<void> {
    try {
      let owned = false;
      if (this.#owners) {
        // Always set, even on a file this process created: in a set-gid directory it took the directory's group.
        owned = await handle.chown(node.uid, node.gid).then(() => true, () => false);
      }
      await handle.chmod(owned ? node.mode : node.mode & ~SETID_BITS);
      const time = nsToSeconds(node.mtimeNs);
      await handle.utimes(time, time);
    } catch (err) {
      this.#problem({ path: display, message: `metadata not restored (${errno(err)})`, code: 'IO' });
    }
  }
}

/** Restores under a shared lock, so a prune cannot remove packs the restore is reading. */
export async function restore(repo: Repository, treeId: string, options: RestoreOptions): Promise<RestoreResult> {
  const lock = await RepositoryLock.acquire(repo.backend, repo.keys.encryption, false);
  try {
    return await new Restorer(repo, options).run(treeId);
  } finally {
    await lock.release().catch(() => undefined);
  }
}
