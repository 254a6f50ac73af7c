import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, lchown, type FileHandle, link, lstat, lutimes, mkdir, open, realpath, rename, stat, symlink, unlink, utimes } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { BulwarkError } from '../core/errors.js';
import { mapLimit, Semaphore } from './concurrency.js';
import { BLOB_DATA, type BlobType } from './crypto.js';
import { RepositoryLock } from './lock.js';
import type { Repository } from './repository.js';
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
}

export interface RestoreResult {
  files: number;
  dirs: number;
  symlinks: number;
  bytes: number;
  /** What could not be restored; everything else was. */
  problems: RestoreProblem[];
}

/** Files restored at once, and blobs fetched at once per file. */
const FILES_IN_FLIGHT = 8;
const BLOBS_PER_FILE = 4;

function unsafe(path: string, why: string): RestoreProblem {
  return { path, message: `refused: ${why}`, code: 'UNSAFE_PATH' };
}

/**
 * Seconds for utimes. Node takes a double, precise to about 0.2 µs for present-day
 * times; restored times are exact to the microsecond, not the nanosecond.
 */
function nsToSeconds(ns: string): number {
  const value = BigInt(ns);
  return Number(value / 1_000_000_000n) + Number(value % 1_000_000_000n) / 1e9;
}

const BLOCK = 4096;
const ZERO_BLOCK = Buffer.alloc(BLOCK);

/** Whether a block-sized (or shorter) piece is all zeros. */
function zeroBlock(piece: Buffer): boolean {
  return piece.equals(piece.length === BLOCK ? ZERO_BLOCK : ZERO_BLOCK.subarray(0, piece.length));
}

/**
 * Writes `data` at `position`, leaving file-system blocks that are all zeros
 * unwritten: a sparse file comes back sparse (the file is truncated to its size
 * afterwards, so trailing holes exist too). Runs of non-zero blocks go out as one write.
 */
async function writeSparse(handle: FileHandle, data: Buffer, position: number): Promise<void> {
  let runStart = -1;
  // Blocks are aligned to the file, not to the chunk, so holes fall on block boundaries.
  let at = 0;
  const firstEdge = (BLOCK - (position % BLOCK)) % BLOCK;
  const edges: number[] = [];
  for (let e = firstEdge === 0 ? BLOCK : firstEdge; e < data.length; e += BLOCK) edges.push(e);
  edges.push(data.length);
  for (const edge of edges) {
    const zero = zeroBlock(data.subarray(at, edge));
    if (!zero && runStart < 0) runStart = at;
    if (zero && runStart >= 0) {
      await handle.write(data, runStart, at - runStart, position + runStart);
      runStart = -1;
    }
    at = edge;
  }
  if (runStart >= 0) await handle.write(data, runStart, data.length - runStart, position + runStart);
}

/**
 * Restores a snapshot's tree (or parts of it) into a directory, never writing
 * outside it: names are single path components (no `/`, `.`, `..`), every
 * directory on the way is checked to be a real directory (a symlink there —
 * from the snapshot or already in the target — is refused), files are written
 * to a fresh temporary name and renamed into place (an existing symlink at the
 * name is replaced, never followed), and symlinks are created as links, never
 * followed. A file that cannot be restored (damaged data, refused path) is
 * reported and the rest goes on.
 */
export class Restorer {
  readonly result: RestoreResult = { files: 0, dirs: 0, symlinks: 0, bytes: 0, problems: [] };
  readonly #files = new Semaphore(FILES_IN_FLIGHT);
  /** First restored path of each hard-linked inode (a promise: the first may still be in flight). */
  readonly #links = new Map<string, Promise<string | undefined>>();
  readonly #owners: boolean;
  readonly #include: string[][];
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
    const existing = await stat(this.options.target).catch(() => undefined);
    if (existing && !existing.isDirectory()) throw new BulwarkError('BAD_REQUEST', `the restore target ${this.options.target} is not a directory`);
    if (!existing) {
      await mkdir(this.options.target, { recursive: true, mode: 0o700 }).catch((err: NodeJS.ErrnoException) => {
        throw new BulwarkError('BAD_REQUEST', `cannot make the restore target ${this.options.target} (${err.code ?? 'error'})`);
      });
    }
    // The target itself may be reached through a link the user chose; everything below it is checked.
    const root = await realpath(this.options.target);
    await this.#count(treeId, []);
    await this.#dir(treeId, root, [], this.#include.length === 0 ? 'all' : 'on-the-way');
    return this.result;
  }

  /** Totals for progress (trees are small and cached by the OS; data is not read). */
  async #count(treeId: string, parts: string[]): Promise<void> {
    if (!this.options.onProgress) return;
    const tree = await this.repo.loadTree(treeId).catch(() => undefined);
    for (const node of tree?.nodes ?? []) {
      const path = [...parts, node.name];
      const wanted = this.#wanted(path);
      if (wanted === 'no') continue;
      if (node.type === 'dir' && node.subtree) await this.#count(node.subtree, path);
      else if (node.type === 'file' && wanted === 'all') {
        this.#progress.totalFiles++;
        this.#progress.totalBytes += node.size ?? 0;
      }
    }
  }

  #problem(problem: RestoreProblem): void {
    this.result.problems.push(problem);
  }

  /** Makes sure `dest` is a real directory made by us or already there; never a symlink. */
  async #ensureDir(dest: string, display: string): Promise<boolean> {
    const st = await lstat(dest).catch(() => undefined);
    if (st?.isSymbolicLink()) {
      this.#problem(unsafe(display, 'a symbolic link stands where a directory goes; nothing is written through it'));
      return false;
    }
    if (st && !st.isDirectory()) {
      this.#problem({ path: display, message: 'a file that is not a directory is in the way', code: 'IO' });
      return false;
    }
    if (!st) await mkdir(dest, { mode: 0o700 });
    return true;
  }

  async #dir(treeId: string, dest: string, parts: string[], wanted: 'all' | 'on-the-way'): Promise<void> {
    const display = `/${parts.join('/')}`;
    let nodes: TreeNode[];
    try {
      nodes = (await this.repo.loadTree(treeId)).nodes;
    } catch (err) {
      this.#problem({ path: display, message: `directory not restored: ${(err as Error).message}`, code: (err as BulwarkError).code === 'STORAGE_FAILED' ? 'STORAGE_FAILED' : 'REPOSITORY_DAMAGED' });
      return;
    }
    const pending: Promise<void>[] = [];
    const dirs: { node: TreeNode; path: string }[] = [];
    for (const node of nodes) {
      const childParts = [...parts, node.name];
      const childDisplay = `/${childParts.join('/')}`;
      if (!isSafeName(node.name)) {
        this.#problem(unsafe(childDisplay, `the name ${JSON.stringify(node.name)} would leave its directory`));
        continue;
      }
      const want = wanted === 'all' ? 'all' : this.#wanted(childParts);
      if (want === 'no') continue;
      const path = join(dest, node.name);
      if (node.type === 'dir') {
        if (!node.subtree || !(await this.#ensureDir(path, childDisplay))) continue;
        await this.#dir(node.subtree, path, childParts, want);
        dirs.push({ node, path });
        continue;
      }
      if (want !== 'all') continue;
      if (node.type === 'file') {
        await this.#files.acquire();
        pending.push(
          this.#file(node, path, childDisplay).finally(() => this.#files.release()),
        );
      } else if (node.type === 'symlink') {
        await this.#symlink(node, path, childDisplay);
      }
      // Devices, FIFOs and sockets are recorded, not re-created: making device nodes from a backup is a privilege to grant deliberately.
    }
    await Promise.all(pending);
    for (const { node, path } of dirs) await this.#meta(node, path, `/${[...parts, node.name].join('/')}`);
    this.result.dirs += dirs.length;
  }

  async #symlink(node: TreeNode, path: string, display: string): Promise<void> {
    try {
      const st = await lstat(path).catch(() => undefined);
      if (st?.isDirectory()) throw Object.assign(new Error('a directory is in the way'), { code: 'EEXIST' });
      if (st) await unlink(path);
      await symlink(node.target ?? '', path);
      await this.#meta(node, path, display);
      this.result.symlinks++;
    } catch (err) {
      this.#problem({ path: display, message: `symlink not restored: ${(err as Error).message}`, code: 'IO' });
    }
  }

  async #file(node: TreeNode, path: string, display: string): Promise<void> {
    const linkKey = node.links !== undefined && node.links > 1 && node.inode !== undefined ? `${node.device ?? 0}:${node.inode}` : undefined;
    const earlier = linkKey === undefined ? undefined : this.#links.get(linkKey);
    let announce: ((path: string | undefined) => void) | undefined;
    if (linkKey !== undefined && earlier === undefined) this.#links.set(linkKey, new Promise((resolve) => (announce = resolve)));
    try {
      await this.#fileOrLink(node, path, display, earlier);
      announce?.(path);
    } catch {
      announce?.(undefined);
    }
  }

  /** Throws (after reporting) when the file was not restored, so a hard link to it is not attempted. */
  async #fileOrLink(node: TreeNode, path: string, display: string, earlier: Promise<string | undefined> | undefined): Promise<void> {
    const first = earlier === undefined ? undefined : await earlier;
    if (first !== undefined) {
      try {
        const tmp = join(path, '..', `.bulwark-restore-${randomBytes(6).toString('hex')}`);
        await link(first, tmp);
        await rename(tmp, path);
        this.result.files++;
        return;
      } catch {
        // Linking failed (another file system, say): restore a copy instead.
      }
    }
    const tmp = join(path, '..', `.bulwark-restore-${randomBytes(6).toString('hex')}`);
    let handle: FileHandle | undefined;
    try {
      handle = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    } catch (err) {
      this.#problem({ path: display, message: `cannot create the file (${(err as NodeJS.ErrnoException).code ?? 'error'})`, code: 'IO' });
      throw err;
    }
    const open_ = this.options.openBlob ?? ((type, id, sealed, raw) => this.repo.openBlob(type, id, sealed, raw));
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
      await mapLimit(ids, BLOBS_PER_FILE, async (id, i) => {
        const loc = locations[i] as NonNullable<(typeof locations)[number]>;
        const sealed = await this.repo.backend.read('data', loc.pack, { offset: loc.offset, length: loc.length });
        const plain = await open_(BLOB_DATA, id, sealed, loc.rawLength);
        await writeSparse(h, plain, offsets[i] as number);
        this.#progress.bytesDone += plain.length;
      });
      await handle.truncate(size);
      if (this.#owners) await handle.chown(node.uid, node.gid).catch(() => undefined);
      await handle.chmod(node.mode);
      await handle.close();
      handle = undefined;
      await utimes(tmp, nsToSeconds(node.mtimeNs), nsToSeconds(node.mtimeNs));
      await rename(tmp, path);
      this.result.files++;
      this.result.bytes += size;
      this.#progress.filesDone++;
      this.options.onProgress?.(this.#progress);
    } catch (err) {
      await handle?.close().catch(() => undefined);
      await unlink(tmp).catch(() => undefined);
      const e = err as BulwarkError;
      const code = e.code === 'REPOSITORY_DAMAGED' || e.code === 'STORAGE_FAILED' ? e.code : e.code === 'NOT_FOUND' ? 'REPOSITORY_DAMAGED' : 'IO';
      this.#problem({ path: display, message: `file not restored: ${e.message}`, code });
      throw err;
    }
  }

  /** Mode, owner and times, applied after the content (a directory's after its children). */
  async #meta(node: TreeNode, path: string, display: string): Promise<void> {
    try {
      if (this.#owners) await lchown(path, node.uid, node.gid).catch(() => undefined);
      const time = nsToSeconds(node.mtimeNs);
      if (node.type === 'symlink') {
        await lutimes(path, time, time);
        return;
      }
      await chmod(path, node.mode);
      await utimes(path, time, time);
    } catch (err) {
      this.#problem({ path: display, message: `metadata not restored (${(err as NodeJS.ErrnoException).code ?? 'error'})`, code: 'IO' });
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
