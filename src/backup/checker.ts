import { randomInt } from 'node:crypto';
import { BulwarkError } from '../core/errors.js';
import { fetchBlobs, type WantedBlob } from './blob-fetch.js';
import { mapLimit, Semaphore } from './concurrency.js';
import { BLOB_DATA, BLOB_TREE } from './crypto.js';
import type { IndexBlob } from './index-file.js';
import { RepositoryLock } from './lock.js';
import { decodePackHeader, headerRange, type PackEntry } from './pack.js';
import { listPackSizes, packFileBytes, readIndexInventory, type IndexedPack } from './pack-inventory.js';
import type { Repository } from './repository.js';
import type { SnapshotRef } from './snapshot.js';
import { WorkerPool } from './worker-pool.js';

export interface CheckOptions {
  /** Read every pack whole and open every blob in it (authentication, decompression, id). */
  readData?: boolean;
  /** Fraction 0 < f ≤ 1 of the packs whose data is read, chosen at random (implies reading data). */
  readDataSubset?: number;
  /** Steps done of the whole check: packs read (when reading data), then snapshots walked. */
  onProgress?: (done: number, total: number) => void;
  /** Opens blobs (a worker pool's opener, to use every core); default `repo.openBlob`. */
  openBlob?: Repository['openBlob'];
}

export interface CheckProblem {
  kind: 'index' | 'pack' | 'snapshot' | 'tree' | 'blob';
  /** The object's name: index file, pack, snapshot id, tree or blob id (hex). */
  name: string;
  message: string;
}

export interface AffectedSnapshot {
  id: string;
  time: string;
  host: string;
  paths: string[];
  /** Paths inside the snapshot of files (or directories) that cannot be restored whole, sorted. */
  files: string[];
}

export interface CheckReport {
  ok: boolean;
  indexFiles: number;
  /** Packs named by the index. */
  packs: number;
  /** Distinct blobs in the index. */
  blobs: number;
  /** Snapshot files, readable or not. */
  snapshots: number;
  packsRead: number;
  problems: CheckProblem[];
  affected: AffectedSnapshot[];
  /** Packs in data/ that no index names: leftovers of an interrupted backup, harmless; prune removes them. */
  unreferencedPacks: string[];
}

/**
 * Packs being read at once. Each is read front to back in slices of a few MiB
 * (blob-fetch.ts), not whole: that bounds memory to a few slices, not packs.
 */
const PACKS_IN_FLIGHT = 2;
/** Tree blobs being read at once during the walk. */
const TREE_READS = 8;
/** Subdirectories of one directory walked at once. */
const SUBDIRS_AT_ONCE = 4;

/** Problems are reported in this order of kinds, then by name: the same damage gives the same report. */
const PROBLEM_ORDER: readonly CheckProblem['kind'][] = ['index', 'pack', 'snapshot', 'tree', 'blob'];
const NOTHING: readonly string[] = Object.freeze([]);

function short(hex: string): string {
  return hex.slice(0, 12);
}

/** `count` of `items` chosen uniformly at random. */
function sample<T>(items: readonly T[], count: number): T[] {
  const pool = [...items];
  for (let i = 0; i < count && i < pool.length; i++) {
    const j = i + randomInt(pool.length - i);
    [pool[i], pool[j]] = [pool[j] as T, pool[i] as T];
  }
  return pool.slice(0, count);
}

/**
 * Checks a repository: every index file, that every indexed pack is there and
 * large enough, every snapshot and every tree they reach, and (with `readData`)
 * that every blob of the packs read authenticates and hashes to its id. The
 * report names each snapshot and each file in it that cannot be restored whole.
 * Takes a shared lock: backups may run beside it (their packs not yet indexed
 * show as unreferenced).
 *
 * @example
 * const report = await check(repo, { readDataSubset: 0.1 });
 * if (!report.ok) for (const s of report.affected) console.log(s.id, s.files);
 */
export async function check(repo: Repository, options: CheckOptions = {}): Promise<CheckReport> {
  const subset = options.readDataSubset;
  if (subset !== undefined && !(subset > 0 && subset <= 1)) {
    throw new BulwarkError('BAD_REQUEST', `the subset of packs to read is ${String(subset)}: give a fraction above 0 and at most 1 (e.g. 0.1 for a tenth)`);
  }
  const lock = await RepositoryLock.acquire(repo.backend, repo.keys.encryption, false);
  try {
    const checker = new Checker(repo, options);
    try {
      return await checker.run();
    } finally {
      await checker.close();
    }
  } finally {
    await lock.release().catch(() => undefined);
  }
}

class Checker {
  readonly problems: CheckProblem[] = [];
  /** Packs that cannot be read at all: every blob the index places there is lost. */
  readonly #lostPacks = new Set<string>();
  /** `pack/blob` (hex) of blobs that cannot be read where the index places them. */
  readonly #lostBlobs = new Set<string>();
  readonly #reportedBlobs = new Set<string>();
  readonly #trees = new Map<string, Promise<readonly string[]>>();
  readonly #treeReads = new Semaphore(TREE_READS);
  /** Opens one blob: by default on this thread (every other read; see #regionOpener), or as the caller says (tests: a worker pool). */
  readonly #opener: Repository['openBlob'];
  /** One worker, which opens every other read's blobs: with this thread that keeps two cores busy. */
  #pool: WorkerPool | undefined;
  #reads = 0;
  #done = 0;
  #total = 0;

  constructor(
    private readonly repo: Repository,
    private readonly options: CheckOptions,
  ) {
    this.#opener = options.openBlob ?? ((type, id, sealed, rawLength) => repo.openBlob(type, id, sealed, rawLength));
  }

  async close(): Promise<void> {
    await this.#pool?.close();
  }

  /** Every other read goes whole to the worker (one message for its blobs); the rest are opened here. */
  #regionOpener(region: Buffer, regionOffset: number, blobs: readonly WantedBlob[]): Promise<(true | Error)[]> | undefined {
    if (this.options.openBlob || this.#reads++ % 2 === 0) return undefined;
    try {
      this.#pool ??= new WorkerPool(this.repo.keys, undefined, 1);
    } catch {
      return undefined; // no worker to be had (a partial install): this thread opens everything
    }
    const inRegion = blobs.map((b) => ({ type: b.location.type, id: b.id, offset: b.location.offset - regionOffset, length: b.location.length, rawLength: b.location.rawLength }));
    return this.#pool.verifyBlobs(region, inRegion);
  }

  problem(kind: CheckProblem['kind'], name: string, text: string): void {
    this.problems.push({ kind, name, message: text });
  }

  #step(): void {
    this.#done++;
    this.options.onProgress?.(this.#done, this.#total);
  }

  async run(): Promise<CheckReport> {
    const inventory = await readIndexInventory(this.repo);
    for (const { name, error } of inventory.failures) this.problem('index', name, `index ${short(name)} cannot be read: ${error.message}`);

    const sizes = await listPackSizes(this.repo.backend);
    for (const pack of inventory.packs.values()) this.#checkSize(pack, sizes.get(pack.name));
    const unreferencedPacks = [...sizes.keys()].filter((name) => !inventory.packs.has(name)).sort();

    const snapshotFiles: string[] = [];
    for await (const file of this.repo.backend.list('snapshots')) snapshotFiles.push(file.name);
    const snapshots = await this.repo.listSnapshots((id, err) => this.problem('snapshot', id, `snapshot ${id.slice(0, 8)} cannot be read: ${err.message}`));

    const readable = [...inventory.packs.values()].filter((p) => sizes.has(p.name));
    const subset = this.options.readDataSubset;
    const toRead = subset !== undefined ? sample(readable, Math.ceil(subset * readable.length)) : this.options.readData === true ? readable : [];
    this.#total = toRead.length + snapshots.length;
    await mapLimit(toRead, PACKS_IN_FLIGHT, async (pack) => {
      await this.#readPack(pack, sizes.get(pack.name) ?? 0);
      this.#step();
    });

    const affected: AffectedSnapshot[] = [];
    for (const snapshot of snapshots) {
      const files = await this.#snapshotFiles(snapshot);
      if (files.length > 0) affected.push({ id: snapshot.id, time: snapshot.time, host: snapshot.host, paths: snapshot.paths, files });
      this.#step();
    }

    const rank = (p: CheckProblem): number => PROBLEM_ORDER.indexOf(p.kind);
    this.problems.sort((a, b) => rank(a) - rank(b) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return {
      ok: this.problems.length === 0,
      indexFiles: inventory.files.length,
      packs: inventory.packs.size,
      blobs: this.repo.index.size,
      snapshots: snapshotFiles.length,
      packsRead: toRead.length,
      problems: this.problems,
      affected,
      unreferencedPacks,
    };
  }

  #checkSize(pack: IndexedPack, size: number | undefined): void {
    if (size === undefined) {
      this.problem('pack', pack.name, `pack ${short(pack.name)} is missing: the index names it but data/ does not hold it`);
      this.#lostPacks.add(pack.name);
      return;
    }
    const need = packFileBytes(pack.blobs);
    if (size >= need) return;
    this.problem('pack', pack.name, `pack ${short(pack.name)} is ${size} bytes, smaller than the ${need} its indexed blobs need: it was truncated`);
    for (const b of pack.blobs) if (b.offset + b.length > size) this.#lostBlobs.add(`${pack.name}/${b.id.toString('hex')}`);
  }

  /** Reads one pack (front to back, in slices), compares its header with the index, and opens every indexed blob in it. */
  async #readPack(pack: IndexedPack, size: number): Promise<void> {
    const backend = this.repo.backend;
    let tail: Buffer;
    try {
      tail = await backend.read('data', pack.name, { offset: Math.max(0, size - 4), length: Math.min(4, size) });
    } catch (err) {
      if (!(err instanceof BulwarkError)) throw err;
      this.problem('pack', pack.name, `pack ${short(pack.name)} cannot be read: ${err.message}`);
      this.#lostPacks.add(pack.name);
      return;
    }
    await this.#compareHeader(pack, size, tail);
    const wanted = pack.blobs.map((b) => ({ id: b.id, location: { type: b.type, pack: pack.name, offset: b.offset, length: b.length, rawLength: b.rawLength } }));
    // Plaintexts are dropped as soon as they are checked: only the outcome is kept.
    const outcomes = await fetchBlobs(
      backend,
      wanted,
      async (blob, sealed) => {
        // A worker pool's opener copies a view before handing it over (ownedForTransfer).
        await this.#opener(blob.location.type, blob.id, sealed, blob.location.rawLength);
        return true;
      },
      (region, offset, blobs) => this.#regionOpener(region, offset, blobs),
    );
    let reportedUnreadable = false;
    for (const blob of pack.blobs) {
      const hex = blob.id.toString('hex');
      const outcome = outcomes.get(hex);
      if (outcome === true) continue;
      if (!(outcome instanceof Error)) throw new BulwarkError('INTERNAL', `blob ${short(hex)} of pack ${short(pack.name)} was read but not opened`);
      // Damage is the blob's; a storage that fails to read is the pack's (said once); anything else stops the check, as it did.
      const unreadable = outcome instanceof BulwarkError && (outcome.code === 'STORAGE_FAILED' || outcome.code === 'NOT_FOUND');
      if (!(outcome instanceof BulwarkError) || (outcome.code !== 'REPOSITORY_DAMAGED' && !unreadable)) throw outcome;
      this.#lostBlobs.add(`${pack.name}/${hex}`);
      if (!unreadable) this.problem('blob', hex, `${blob.type === BLOB_TREE ? 'tree' : 'data'} blob ${short(hex)} in pack ${short(pack.name)} is damaged: ${outcome.message}`);
      else if (!reportedUnreadable) {
        reportedUnreadable = true;
        this.problem('pack', pack.name, `pack ${short(pack.name)} cannot be read: ${outcome.message}`);
      }
    }
  }

  async #compareHeader(pack: IndexedPack, size: number, tail: Buffer): Promise<void> {
    let header: PackEntry[];
    try {
      const range = headerRange(size, tail, pack.name);
      const sealed = await this.repo.backend.read('data', pack.name, range);
      header = decodePackHeader(this.repo.keys.encryption, sealed, range.offset, pack.name);
    } catch (err) {
      if (!(err instanceof BulwarkError)) throw err;
      this.problem('pack', pack.name, err.message);
      return;
    }
    const byId = new Map(header.map((e) => [e.id.toString('hex'), e]));
    for (const b of pack.blobs) {
      const hex = b.id.toString('hex');
      const h = byId.get(hex);
      if (!h) {
        this.problem('pack', pack.name, `pack ${short(pack.name)}: the index lists blob ${short(hex)}, which the pack's header does not`);
      } else if (!samePlace(h, b)) {
        this.problem(
          'pack',
          pack.name,
          `pack ${short(pack.name)}: the index places blob ${short(hex)} at offset ${b.offset} (${b.length} bytes, type ${b.type}), the pack's header at offset ${h.offset} (${h.length} bytes, type ${h.type})`,
        );
      }
    }
  }

  /** Paths (inside the snapshot) that cannot be restored whole. */
  async #snapshotFiles(snapshot: SnapshotRef): Promise<string[]> {
    const relative = await this.#tree(snapshot.tree, '/', snapshot.id);
    return [...new Set(relative.map((r) => `/${r}`))].sort();
  }

  /**
   * The paths below a tree (relative, `''` for the tree itself) that cannot be
   * restored whole. Memoised by tree id, so a tree shared by many snapshots is
   * read once and its problems are reported once, yet named in every snapshot.
   */
  #tree(id: string, at: string, snapshot: string): Promise<readonly string[]> {
    let result = this.#trees.get(id);
    if (!result) {
      result = this.#walk(id, at, snapshot);
      this.#trees.set(id, result);
    }
    return result;
  }

  async #walk(id: string, at: string, snapshot: string): Promise<readonly string[]> {
    await this.#treeReads.acquire();
    let tree;
    try {
      tree = await this.repo.loadTree(id);
    } catch (err) {
      if (!(err instanceof BulwarkError)) throw err;
      this.problem('tree', id, `tree ${short(id)} (${at} in snapshot ${snapshot.slice(0, 8)}) cannot be read, so nothing below it can be restored: ${err.message}`);
      return [''];
    } finally {
      this.#treeReads.release();
    }
    const affected: string[] = [];
    const dirs: { name: string; subtree: string }[] = [];
    for (const node of tree.nodes) {
      if (node.type === 'dir' && node.subtree !== undefined) dirs.push({ name: node.name, subtree: node.subtree });
      else if (node.type === 'file' && (node.content ?? []).some((blob) => !this.#blobReadable(blob, `${at}${node.name}`, snapshot))) affected.push(node.name);
    }
    const below = await mapLimit(dirs, SUBDIRS_AT_ONCE, (dir) => this.#tree(dir.subtree, `${at}${dir.name}/`, snapshot));
    for (const [i, paths] of below.entries()) {
      const name = (dirs[i] as { name: string }).name;
      for (const p of paths) affected.push(p === '' ? name : `${name}/${p}`);
    }
    return affected.length === 0 ? NOTHING : affected;
  }

  /** Whether restore can read a data blob where the index places it; a blob in no index is reported once. */
  #blobReadable(hex: string, path: string, snapshot: string): boolean {
    const location = this.repo.locate(Buffer.from(hex, 'hex'));
    if (!location || location.type !== BLOB_DATA) {
      if (!this.#reportedBlobs.has(hex)) {
        this.#reportedBlobs.add(hex);
        this.problem('blob', hex, `data blob ${short(hex)} (of ${path} in snapshot ${snapshot.slice(0, 8)}) is in no index: the repository is missing data`);
      }
      return false;
    }
    return !this.#lostPacks.has(location.pack) && !this.#lostBlobs.has(`${location.pack}/${hex}`);
  }
}

function samePlace(h: PackEntry, b: IndexBlob): boolean {
  return h.type === b.type && h.offset === b.offset && h.length === b.length && h.rawLength === b.rawLength;
}
