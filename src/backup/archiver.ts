import { lstatSync, type BigIntStats } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve, sep } from 'node:path';
import { BulwarkError } from '../core/errors.js';
import { VERSION } from '../core/version.js';
import { Semaphore } from './concurrency.js';
import { DirHandle } from './dir-handle.js';
import { compileExcludes, type ExcludeMatcher } from './exclude.js';
import { RepositoryLock, safeUser } from './lock.js';
import type { Repository } from './repository.js';
import { findSnapshot, type Snapshot, type SnapshotRef, type SnapshotSummary } from './snapshot.js';
import type { NodeType, Tree, TreeNode } from './tree.js';
import { WorkerPool } from './worker-pool.js';

export interface BackupProgress {
  filesDone: number;
  bytesDone: number;
  /** Known once the scan that runs beside the backup has finished (only with `scan`). */
  totalFiles?: number;
  totalBytes?: number;
  errors: number;
}

export interface BackupOptions {
  paths: readonly string[];
  excludes?: readonly string[];
  tags?: readonly string[];
  host?: string;
  /** `auto` (default): the newest snapshot of the same host and paths; files unchanged since it are not read again. */
  parent?: 'auto' | 'none' | string;
  /** Count files and bytes first (beside the backup) so progress can show totals and an ETA. */
  scan?: boolean;
  onProgress?: (progress: BackupProgress) => void;
  onError?: (path: string, message: string) => void;
  workers?: number;
  /**
   * Read each entry's metadata with a blocking call on this thread instead of on
   * libuv's: a quarter of the CPU per call (no hand-off between threads, no promise),
   * but a hung file system (a dead NFS server) then stops this thread, not one of
   * libuv's. For a process that only waits for the backup (the CLI), not for one
   * whose thread has other work (an agent's heartbeats).
   */
  blockingStat?: boolean;
  now?: () => Date;
  /**
   * Directories never backed up, whatever the paths and excludes say, matched by
   * device and inode (so no other name for them gets in): an agent's own data
   * directory, with its node key.
   */
  neverInclude?: readonly string[];
}

export interface BackupResult {
  id: string;
  snapshot: SnapshotRef;
}

/** Files in flight between the walk and the workers: bounds memory on trees of millions of files. */
const FILES_IN_FLIGHT = 512;
/** Directories walked side by side. */
const DIRS_IN_FLIGHT = 16;

interface Stats {
  filesNew: number;
  filesChanged: number;
  filesUnchanged: number;
  dirs: number;
  bytesProcessed: number;
  totalBytes: number;
  totalFiles: number;
  errors: number;
}

/** The snapshot's directory tree from `/` down to the paths backed up; leaves are the real paths. */
interface VirtualDir {
  children: Map<string, VirtualDir | string>;
}

function nodeType(st: BigIntStats): NodeType | undefined {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'chardev';
  if (st.isBlockDevice()) return 'blockdev';
  if (st.isFIFO()) return 'fifo';
  if (st.isSocket()) return 'socket';
  return undefined;
}

function baseNode(name: string, type: NodeType, st: BigIntStats): TreeNode {
  const node: TreeNode = {
    name,
    type,
    mode: Number(st.mode & 0o7777n),
    uid: Number(st.uid),
    gid: Number(st.gid),
    mtimeNs: st.mtimeNs.toString(),
    ctimeNs: st.ctimeNs.toString(),
    inode: Number(st.ino),
    device: Number(st.dev),
  };
  if (type === 'file') node.links = Number(st.nlink);
  if (type === 'chardev' || type === 'blockdev') node.rdev = Number(st.rdev);
  return node;
}

/** A name that survives the trip through JSON and back to the file system unchanged. */
function utf8Name(raw: Buffer): string | undefined {
  const name = raw.toString('utf8');
  return Buffer.from(name, 'utf8').equals(raw) ? name : undefined;
}

class Archiver {
  readonly stats: Stats = { filesNew: 0, filesChanged: 0, filesUnchanged: 0, dirs: 0, bytesProcessed: 0, totalBytes: 0, totalFiles: 0, errors: 0 };
  readonly #inFlight = new Semaphore(FILES_IN_FLIGHT);
  readonly #dirSlots = new Semaphore(DIRS_IN_FLIGHT);
  /** `dev:ino` of directories never backed up. */
  readonly forbidden = new Set<string>();
  #totals: { files: number; bytes: number } | undefined;

  constructor(
    private readonly repo: Repository,
    private readonly pool: WorkerPool,
    private readonly exclude: ExcludeMatcher,
    private readonly options: BackupOptions,
  ) {}

  progress(): void {
    this.options.onProgress?.({
      filesDone: this.stats.filesNew + this.stats.filesChanged + this.stats.filesUnchanged,
      bytesDone: this.stats.bytesProcessed,
      ...(this.#totals ? { totalFiles: this.#totals.files, totalBytes: this.#totals.bytes } : {}),
      errors: this.stats.errors,
    });
  }

  error(path: string, message: string): void {
    this.stats.errors++;
    this.options.onError?.(path, message);
  }

  /**
   * The plaintext size of content the index holds, or -1 when a blob is missing.
   * A parent's content is reused only when it adds up to the file's size: a
   * parent tree forged to pair a file's metadata with other data is not trusted blindly.
   */
  #storedSize(content: readonly string[]): number {
    let size = 0;
    for (const hex of content) {
      const entry = this.repo.index.get(Buffer.from(hex, 'hex'));
      if (!entry || entry.type !== 0) return -1;
      size += entry.rawLength;
    }
    return size;
  }

  setTotals(totals: { files: number; bytes: number }): void {
    this.#totals = totals;
  }

  async parentIndex(parent: TreeNode | undefined): Promise<Map<string, TreeNode>> {
    if (parent?.type !== 'dir' || parent.subtree === undefined) return new Map();
    try {
      const tree = await this.repo.loadTree(parent.subtree);
      return new Map(tree.nodes.map((n) => [n.name, n]));
    } catch {
      return new Map(); // a damaged parent only costs re-reading
    }
  }

  /**
   * A node for one real path; directories are walked. Undefined when the entry is skipped.
   * A file's node comes wrapped (`later`): an async function would otherwise wait for its content.
   * Inside a walked directory the entry is reached through the directory's open
   * descriptor (`dir`), so a parent directory swapped for a symlink meanwhile
   * cannot lead the backup into another part of the file system; `path` is then
   * only what reports show.
   */
  async entry(path: string, name: string, parent: TreeNode | undefined, dir?: DirHandle): Promise<TreeNode | { later: Promise<TreeNode | undefined> } | undefined> {
    const at = dir ? dir.at(name) : path;
    let st: BigIntStats;
    try {
      st = this.options.blockingStat ? lstatSync(at, { bigint: true }) : await lstat(at, { bigint: true });
    } catch (err) {
      this.error(path, `cannot read its metadata (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
      return undefined;
    }
    const type = nodeType(st);
    if (!type) return undefined;
    if (type === 'dir' && this.forbidden.has(`${st.dev}:${st.ino}`)) return undefined;
    const node = baseNode(name, type, st);
    if (type === 'dir') {
      const walk = async (): Promise<TreeNode | undefined> => {
        const subtree = await this.walkDir(path, at, st, parent);
        if (subtree === undefined) return undefined;
        node.subtree = subtree;
        return node;
      };
      // Sibling directories are walked side by side while there is room (each holds an open
      // directory), so a tree of many small directories keeps every worker busy; without room
      // the walk goes depth-first in place, which cannot deadlock.
      if (!this.#dirSlots.tryAcquire()) return walk();
      const later = walk().finally(() => this.#dirSlots.release());
      later.catch(() => undefined);
      return { later };
    }
    if (type === 'symlink') {
      try {
        node.target = await readlink(at);
      } catch (err) {
        this.error(path, `cannot read the link (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
        return undefined;
      }
      return node;
    }
    if (type !== 'file') return node;
    node.size = Number(st.size);
    this.stats.totalFiles++;
    const before = parent?.type === 'file' ? parent : undefined;
    if (
      before &&
      before.size === node.size &&
      before.mtimeNs === node.mtimeNs &&
      before.ctimeNs === node.ctimeNs &&
      before.inode === node.inode &&
      before.content !== undefined &&
      this.#storedSize(before.content) === node.size
    ) {
      node.content = before.content;
      this.stats.filesUnchanged++;
      this.stats.totalBytes += node.size;
      this.progress();
      return node;
    }
    await this.#inFlight.acquire();
    // The content arrives later: the directory waits for it, the walk goes on.
    const later = this.pool.file({ path: at, display: path, inode: node.inode ?? 0, device: node.device ?? 0, size: node.size }).then(
      (result) => {
        this.#inFlight.release();
        if (result.error !== undefined) {
          this.error(path, result.error);
          return undefined;
        }
        node.content = result.content.map((id) => id.toString('hex'));
        node.size = result.size;
        if (before) this.stats.filesChanged++;
        else this.stats.filesNew++;
        this.stats.bytesProcessed += result.size;
        this.stats.totalBytes += result.size;
        this.progress();
        return node;
      },
      (err: unknown) => {
        this.#inFlight.release();
        throw err;
      },
    );
    later.catch(() => undefined); // observed by the directory; this keeps an early failure from being "unhandled"
    return { later };
  }

  /**
   * Walks a real directory and stores its tree; undefined when it could not be read.
   * The directory is opened (no symlink followed) and checked to be the one `seen`
   * by lstat; everything in it is then reached through that descriptor.
   */
  async walkDir(path: string, at: string, seen: BigIntStats, parent: TreeNode | undefined): Promise<string | undefined> {
    let dir: DirHandle;
    let raw: Buffer[];
    try {
      dir = await DirHandle.open(at, path);
    } catch (err) {
      this.error(path, `cannot open the directory (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
      return undefined;
    }
    try {
      const opened = await dir.handle.stat({ bigint: true });
      if (opened.ino !== seen.ino || opened.dev !== seen.dev) {
        this.error(path, 'it was replaced while the backup ran');
        return undefined;
      }
      raw = await readdir(dir.at('.'), { encoding: 'buffer' });
      return await this.#walkOpen(path, dir, raw, parent);
    } catch (err) {
      if (err instanceof BulwarkError) throw err;
      this.error(path, `cannot list the directory (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
      return undefined;
    } finally {
      await dir.close();
    }
  }

  async #walkOpen(path: string, dir: DirHandle, raw: Buffer[], parent: TreeNode | undefined): Promise<string> {
    this.stats.dirs++;
    const before = await this.parentIndex(parent);
    const pending: (TreeNode | { later: Promise<TreeNode | undefined> } | undefined)[] = [];
    for (const rawName of raw.sort(Buffer.compare)) {
      const name = utf8Name(rawName);
      const child = name === undefined ? undefined : path === sep ? `${sep}${name}` : `${path}${sep}${name}`;
      if (name === undefined || child === undefined) {
        this.error(join(path, rawName.toString('utf8')), 'skipped: the name is not valid UTF-8');
        continue;
      }
      if (this.exclude(child, name)) continue;
      pending.push(await this.entry(child, name, before.get(name), dir));
    }
    this.pool.flushBatch();
    const nodes = (await Promise.all(pending.map((p) => (p !== undefined && 'later' in p ? p.later : p)))).filter((n): n is TreeNode => n !== undefined);
    return this.repo.saveTree({ nodes });
  }

  /** Stores the virtual directories from `/` down to the paths; their metadata is that of the real directories. */
  async virtualDir(dir: VirtualDir, realPath: string, parent: TreeNode | undefined): Promise<string> {
    const before = await this.parentIndex(parent);
    const nodes: TreeNode[] = [];
    for (const [name, child] of [...dir.children].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const path = realPath === sep ? `${sep}${name}` : `${realPath}${sep}${name}`;
      if (typeof child === 'string') {
        const node = await this.entry(child, name, before.get(name));
        this.pool.flushBatch();
        const done = node !== undefined && 'later' in node ? await node.later : node;
        if (done) nodes.push(done);
        continue;
      }
      const st = await lstat(path, { bigint: true });
      const node = baseNode(name, 'dir', st);
      node.subtree = await this.virtualDir(child, path, before.get(name));
      nodes.push(node);
    }
    return this.repo.saveTree({ nodes } satisfies Tree);
  }
}

function virtualRoot(paths: readonly string[]): VirtualDir {
  const root: VirtualDir = { children: new Map() };
  for (const path of paths) {
    const parts = path.split(sep).filter((p) => p.length > 0);
    if (parts.length === 0) throw new BulwarkError('BAD_REQUEST', 'back up "/" by naming the directories below it (for example /etc /home /var)');
    let dir = root;
    for (const [i, part] of parts.entries()) {
      const existing = dir.children.get(part);
      if (i === parts.length - 1) {
        if (existing !== undefined) throw new BulwarkError('BAD_REQUEST', `${path} is given twice, or together with a directory that contains it`);
        dir.children.set(part, path);
      } else if (typeof existing === 'string') {
        throw new BulwarkError('BAD_REQUEST', `${path} is inside ${existing}, which is backed up already`);
      } else if (existing === undefined) {
        const next: VirtualDir = { children: new Map() };
        dir.children.set(part, next);
        dir = next;
      } else dir = existing;
    }
  }
  return root;
}

/** Counts the files and bytes a backup will see, for progress totals. */
async function scan(paths: readonly string[], exclude: ExcludeMatcher): Promise<{ files: number; bytes: number }> {
  const totals = { files: 0, bytes: 0 };
  const visit = async (path: string): Promise<void> => {
    const st = await lstat(path).catch(() => undefined);
    if (!st) return;
    if (st.isFile()) {
      totals.files++;
      totals.bytes += st.size;
    } else if (st.isDirectory()) {
      const names = await readdir(path).catch(() => [] as string[]);
      for (const name of names) {
        const child = join(path, name);
        if (!exclude(child, name)) await visit(child);
      }
    }
  };
  for (const path of paths) await visit(path);
  return totals;
}

/**
 * Backs up `paths` into the repository and writes a snapshot. Order of
 * durability: every pack, then the index naming them, then the snapshot — a
 * crash at any point leaves at worst packs nobody references (prune removes them).
 */
export async function backup(repo: Repository, options: BackupOptions): Promise<BackupResult> {
  const started = Date.now();
  const now = options.now ?? (() => new Date());
  const startedAt = now();
  const paths = options.paths.map((p) => resolve(p));
  if (paths.length === 0) throw new BulwarkError('BAD_REQUEST', 'name at least one path to back up');
  for (const path of paths) {
    await lstat(path).catch(() => {
      throw new BulwarkError('BAD_REQUEST', `${path} does not exist or cannot be read`);
    });
  }
  const root = virtualRoot(paths);
  const exclude = compileExcludes(options.excludes ?? []);
  const host = options.host ?? hostname();
  const lock = await RepositoryLock.acquire(repo.backend, repo.keys.encryption, false);
  const pool = new WorkerPool(repo.keys, repo.writer, options.workers);
  try {
    await repo.loadIndex({ presentPacksOnly: true });
    let parent: SnapshotRef | undefined;
    if (options.parent !== 'none') {
      const snapshots = await repo.listSnapshots(() => undefined);
      if (options.parent === undefined || options.parent === 'auto') {
        // A snapshot dated in the future is no parent: it would stay "the latest" and shadow every real backup after it.
        const past = snapshots.filter((s) => Date.parse(s.time) <= now().getTime() + 5 * 60_000);
        parent = past.length === 0 ? undefined : findSnapshotOrUndefined(past, host, paths);
      } else parent = findSnapshot(snapshots, options.parent);
    }
    const archiver = new Archiver(repo, pool, exclude, options);
    for (const path of options.neverInclude ?? []) {
      const st = await lstat(path, { bigint: true }).catch(() => undefined);
      if (st) archiver.forbidden.add(`${st.dev}:${st.ino}`);
    }
    if (options.scan) void scan(paths, exclude).then((t) => archiver.setTotals(t));
    const parentRoot: TreeNode | undefined = parent ? { name: '', type: 'dir', mode: 0, uid: 0, gid: 0, mtimeNs: '0', subtree: parent.tree } : undefined;
    const tree = await archiver.virtualDir(root, sep, parentRoot);
    await lock.assertHeld();
    await repo.flush();
    const s = archiver.stats;
    const summary: SnapshotSummary = {
      filesNew: s.filesNew,
      filesChanged: s.filesChanged,
      filesUnchanged: s.filesUnchanged,
      dirs: s.dirs,
      bytesProcessed: s.bytesProcessed,
      bytesAdded: repo.writer.rawBytesStored,
      bytesStored: repo.writer.bytesStored,
      totalBytes: s.totalBytes,
      totalFiles: s.totalFiles,
      errors: s.errors,
      durationMs: Date.now() - started,
    };
    const snapshot: Snapshot = {
      v: 1,
      // The time the data reflects: when the backup began (what RPO is measured from), as restic records it.
      time: startedAt.toISOString(),
      host,
      user: safeUser(),
      paths,
      tags: [...(options.tags ?? [])],
      excludes: [...(options.excludes ?? [])],
      tree,
      ...(parent ? { parent: parent.id } : {}),
      program: `bulwark ${VERSION}`,
      summary,
    };
    await lock.assertHeld();
    const id = await repo.saveSnapshot(snapshot);
    return { id, snapshot: { ...snapshot, id } };
  } catch (err) {
    // The pack being filled is a temp file: leave none behind (workers first, so none adds to it meanwhile).
    await pool.close();
    await repo.writer.discard();
    throw err;
  } finally {
    await pool.close();
    await lock.release().catch(() => undefined);
  }
}

function findSnapshotOrUndefined(snapshots: readonly SnapshotRef[], host: string, paths: string[]): SnapshotRef | undefined {
  try {
    return findSnapshot(snapshots, 'latest', { host, paths });
  } catch {
    return undefined;
  }
}
