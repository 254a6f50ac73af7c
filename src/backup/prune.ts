import { BulwarkError } from '../core/errors.js';
import { BlobIndex } from './blob-index.js';
import { mapLimit } from './concurrency.js';
import { BLOB_DATA, BLOB_TREE, type BlobType } from './crypto.js';
import { MAX_BLOBS_PER_INDEX_FILE, type IndexBlob, type IndexPack } from './index-file.js';
import { RepositoryLock } from './lock.js';
import { listPackSizes, packFileBytes, readIndexInventory, type IndexedPack } from './pack-inventory.js';
import { PACK_TARGET_BYTES, type Repository } from './repository.js';
import type { Tree } from './tree.js';

export interface PruneOptions {
  /** Compute the report and change nothing. */
  dryRun?: boolean;
  /** Rewrite a pack when more than this fraction of its blob bytes is unused (0 to 1, default 0.2). */
  maxUnused?: number;
  /**
   * Packs no index names are removed only once the storage says they are older
   * than this (default 1 hour): a backup whose lock looked stale but that is still
   * running may be about to name them.
   */
  unindexedGraceMs?: number;
}

export interface PruneReport {
  /** Packs left as they are. */
  packsKept: number;
  /** Indexed packs holding nothing in use (including ones the index names but data/ lacks). */
  packsRemoved: number;
  /** Packs whose blobs still in use were copied into new packs before they were removed. */
  packsRewritten: number;
  /** Packs no index named: leftovers of interrupted backups. */
  unreferencedPacksRemoved: number;
  /** Index entries dropped: blobs no snapshot uses, and duplicate copies. */
  blobsRemoved: number;
  /** Bytes of pack files removed, less the bytes of the packs written in their place. */
  bytesFreed: number;
  /** Bytes of blobs copied into new packs. */
  bytesRepacked: number;
  indexFilesWritten: number;
  indexFilesRemoved: number;
  dryRun: boolean;
}

/** See PruneOptions.unindexedGraceMs. */
export const DEFAULT_UNINDEXED_GRACE_MS = 60 * 60_000;

type PackAction = 'keep' | 'remove' | 'rewrite';

interface PackPlan {
  pack: IndexedPack;
  /** Bytes of the file in data/; 0 when it is missing. */
  size: number;
  /** The copy of each used blob this pack is chosen to provide. */
  provides: IndexBlob[];
  action: PackAction;
}

const DEFAULT_MAX_UNUSED = 0.2;
/** Trees loaded at once while collecting the blobs in use; also how many are held decoded at a time. */
const TREE_READS = 8;
const TREE_BATCH = 256;
/** Blobs of one pack verified at once before they are copied. */
const OPENS_AT_ONCE = 8;
const REMOVALS_AT_ONCE = 8;

function damaged(why: string): BulwarkError {
  return new BulwarkError('REPOSITORY_DAMAGED', `${why}; prune needs every snapshot readable to know what is in use; run "bulwark backup check"`);
}

/**
 * Removes what no snapshot uses: packs with nothing in use are deleted, packs
 * with more than `maxUnused` of their bytes unused have their used blobs copied
 * (still sealed: a blob's associated data binds its type and id, not its pack)
 * into new packs, and packs no index names are deleted. Refuses, deleting
 * nothing, when any index file, snapshot, tree or used blob cannot be found.
 *
 * Crash safety is the order of the steps: (1) new packs and their index,
 * (2) index files for every pack kept, (3) the old index files go, (4) the old
 * packs go. After a crash at any step the repository is whole: indexes may
 * name a blob twice, or packs may be left that no index names, both legal.
 * The repository's in-memory index still names the removed packs afterwards:
 * open the repository anew before reading from it.
 */
export async function prune(repo: Repository, options: PruneOptions = {}): Promise<PruneReport> {
  const maxUnused = options.maxUnused ?? DEFAULT_MAX_UNUSED;
  if (!(maxUnused >= 0 && maxUnused <= 1)) {
    throw new BulwarkError('BAD_REQUEST', `the largest unused fraction of a pack is ${String(maxUnused)}: give a number from 0 to 1 (e.g. 0.2)`);
  }
  const dryRun = options.dryRun === true;
  // A dry run only reads: backups may go on beside it.
  const lock = await RepositoryLock.acquire(repo.backend, repo.keys.encryption, !dryRun);
  try {
    return await run(repo, maxUnused, dryRun, options.unindexedGraceMs ?? DEFAULT_UNINDEXED_GRACE_MS);
  } catch (err) {
    // A repack that failed leaves no temp file of the pack it was filling.
    await repo.writer.discard();
    throw err;
  } finally {
    await lock.release().catch(() => undefined);
  }
}

async function run(repo: Repository, maxUnused: number, dryRun: boolean, graceMs: number): Promise<PruneReport> {
  const inventory = await readIndexInventory(repo);
  const failure = inventory.failures[0];
  if (failure) {
    throw new BulwarkError('REPOSITORY_DAMAGED', `index ${failure.name.slice(0, 12)} cannot be read (${failure.error.message}); prune needs every index to know which packs are in use; run "bulwark backup check"`);
  }
  const modified = new Map<string, number | undefined>();
  const sizes = await listPackSizes(repo.backend, modified);
  const used = await usedBlobs(repo);
  const plans = planPacks(inventory.packs, sizes, used, maxUnused);
  const now = Date.now();
  // A pack without a storage time counts as old: the backend cannot tell, and leftovers must go some time.
  const unreferenced = [...sizes.entries()].filter(([name]) => !inventory.packs.has(name) && now - (modified.get(name) ?? 0) >= graceMs);

  const report: PruneReport = {
    packsKept: 0,
    packsRemoved: 0,
    packsRewritten: 0,
    unreferencedPacksRemoved: unreferenced.length,
    blobsRemoved: 0,
    bytesFreed: unreferenced.reduce((n, [, size]) => n + size, 0),
    bytesRepacked: 0,
    indexFilesWritten: 0,
    indexFilesRemoved: 0,
    dryRun,
  };
  const repacked: IndexBlob[] = [];
  for (const plan of plans) {
    if (plan.action === 'keep') {
      report.packsKept++;
      continue;
    }
    if (plan.action === 'remove') report.packsRemoved++;
    else report.packsRewritten++;
    report.blobsRemoved += plan.pack.blobs.length - plan.provides.length;
    report.bytesFreed += plan.size;
    for (const b of plan.provides) repacked.push(b);
  }
  report.bytesRepacked = repacked.reduce((n, b) => n + b.length, 0);
  const changesIndex = plans.some((p) => p.action !== 'keep');
  if (changesIndex) report.indexFilesRemoved = inventory.files.length;
  if (dryRun) {
    report.bytesFreed -= estimatePackBytes(repacked);
    if (changesIndex) report.indexFilesWritten = estimateIndexFiles(plans);
    return report;
  }

  // (1) The blobs still in use move to new packs, made durable with an index of their own.
  const rewrite = plans.filter((p) => p.action === 'rewrite');
  if (rewrite.length > 0) {
    const filesBefore = repo.indexFiles.size;
    for (const plan of rewrite) await copyBlobs(repo, plan);
    const written = await repo.writer.flush();
    report.bytesFreed -= written.reduce((n, p) => n + packFileBytes(p.blobs), 0);
    report.indexFilesWritten += repo.indexFiles.size - filesBefore;
  }
  if (changesIndex) {
    // (2) Every pack kept is named by a new index file before (3) the old ones go.
    const kept: IndexPack[] = plans.filter((p) => p.action === 'keep').map((p) => ({ id: p.pack.id, blobs: p.pack.blobs }));
    report.indexFilesWritten += (await repo.writeIndex(kept)).length;
    await mapLimit(inventory.files, REMOVALS_AT_ONCE, (name) => repo.backend.remove('index', name));
  }
  // (4) Only now is nothing left that names the old packs.
  const obsolete = [...plans.filter((p) => p.action !== 'keep' && p.size > 0).map((p) => p.pack.name), ...unreferenced.map(([name]) => name)];
  await mapLimit(obsolete, REMOVALS_AT_ONCE, (name) => repo.backend.remove('data', name));
  return report;
}

/**
 * The id of every blob a snapshot reaches (trees and file data), walking each
 * tree once. Any snapshot or tree that cannot be read stops prune: what it
 * holds would otherwise look unused.
 */
async function usedBlobs(repo: Repository): Promise<BlobIndex> {
  const broken: string[] = [];
  const snapshots = await repo.listSnapshots((id, err) => broken.push(`snapshot ${id.slice(0, 8)} cannot be read (${err.message})`));
  if (broken.length > 0) throw damaged(broken.join('; '));
  const used = new BlobIndex();
  const mark = (hex: string, type: BlobType): boolean => used.add(Buffer.from(hex, 'hex'), { type, pack: 0, offset: 0, length: 0, rawLength: 0 });
  let level = snapshots.map((s) => s.tree).filter((tree) => mark(tree, BLOB_TREE));
  while (level.length > 0) {
    const next: string[] = [];
    for (let at = 0; at < level.length; at += TREE_BATCH) {
      const trees = await mapLimit(level.slice(at, at + TREE_BATCH), TREE_READS, async (id): Promise<Tree> => {
        try {
          return await repo.loadTree(id);
        } catch (err) {
          if (!(err instanceof BulwarkError)) throw err;
          throw damaged(`tree ${id.slice(0, 12)} cannot be read (${err.message})`);
        }
      });
      for (const tree of trees) {
        for (const node of tree.nodes) {
          if (node.type === 'file') for (const blob of node.content ?? []) mark(blob, BLOB_DATA);
          else if (node.type === 'dir' && node.subtree !== undefined && mark(node.subtree, BLOB_TREE)) next.push(node.subtree);
        }
      }
    }
    level = next;
  }
  return used;
}

/**
 * Decides each pack's fate. Every used blob is provided by exactly one copy;
 * packs are considered fullest first, so a blob stored twice is kept where
 * keeping it costs no copying.
 */
function planPacks(packs: ReadonlyMap<string, IndexedPack>, sizes: ReadonlyMap<string, number>, used: BlobIndex, maxUnused: number): PackPlan[] {
  const present = [...packs.values()].filter((p) => sizes.has(p.name));
  const usedShare = new Map(present.map((p) => [p.name, share(p.blobs, (b) => used.has(b.id))]));
  present.sort((a, b) => (usedShare.get(b.name) ?? 0) - (usedShare.get(a.name) ?? 0) || (a.name < b.name ? -1 : 1));

  const provided = new BlobIndex();
  const plans: PackPlan[] = [];
  for (const pack of present) {
    const provides = pack.blobs.filter((b) => used.has(b.id) && provided.add(b.id, { type: b.type, pack: 0, offset: 0, length: 0, rawLength: 0 }));
    const kept = new Set(provides);
    const unused = 1 - share(pack.blobs, (b) => kept.has(b));
    const action: PackAction = provides.length === 0 ? 'remove' : unused > maxUnused ? 'rewrite' : 'keep';
    plans.push({ pack, size: sizes.get(pack.name) ?? 0, provides, action });
  }
  // A blob that a kept pack holds as well (a duplicate) need not be copied out of a pack being rewritten.
  const inKept = new BlobIndex();
  for (const plan of plans) if (plan.action === 'keep') for (const b of plan.pack.blobs) inKept.add(b.id, { type: b.type, pack: 0, offset: 0, length: 0, rawLength: 0 });
  for (const plan of plans) {
    if (plan.action !== 'rewrite') continue;
    plan.provides = plan.provides.filter((b) => !inKept.has(b.id));
    if (plan.provides.length === 0) plan.action = 'remove';
  }
  for (const pack of packs.values()) {
    if (!sizes.has(pack.name)) plans.push({ pack, size: 0, provides: [], action: 'remove' });
  }
  if (provided.size < used.size) {
    for (const blob of used.entries()) {
      if (!provided.has(blob.id)) {
        throw damaged(`${blob.type === BLOB_TREE ? 'tree' : 'data'} blob ${Buffer.from(blob.id).toString('hex').slice(0, 12)} is in use but in no pack of the repository`);
      }
    }
  }
  return plans;
}

/** The fraction of a pack's blob bytes for which `pick` holds (1 for a pack listing nothing). */
function share(blobs: readonly IndexBlob[], pick: (b: IndexBlob) => boolean): number {
  let total = 0;
  let picked = 0;
  for (const b of blobs) {
    total += b.length;
    if (pick(b)) picked += b.length;
  }
  return total === 0 ? 1 : picked / total;
}

/** Reads a pack and adds the blobs it provides to the pack writer, each verified first so damage is never copied on. */
async function copyBlobs(repo: Repository, plan: PackPlan): Promise<void> {
  const bytes = await repo.backend.read('data', plan.pack.name);
  const blobs = await mapLimit(plan.provides, OPENS_AT_ONCE, async (b) => {
    const sealed = bytes.subarray(b.offset, b.offset + b.length);
    try {
      if (sealed.length !== b.length) throw new BulwarkError('REPOSITORY_DAMAGED', 'the pack ends before it');
      await repo.openBlob(b.type, b.id, sealed, b.rawLength);
    } catch (err) {
      if (!(err instanceof BulwarkError)) throw err;
      throw new BulwarkError('REPOSITORY_DAMAGED', `blob ${b.id.toString('hex').slice(0, 12)} in pack ${plan.pack.name.slice(0, 12)} is damaged (${err.message}); prune stopped before removing anything; run "bulwark backup check --read-data"`);
    }
    // A copy of its own, so the old pack's buffer is not held until the new pack is written.
    return { blob: b, sealed: Buffer.from(sealed) };
  });
  for (const { blob, sealed } of blobs) await repo.writer.add(blob.type, blob.id, [sealed], blob.rawLength);
}

/** What the new packs will take: PackWriter closes a pack once its blobs reach PACK_TARGET_BYTES. */
function estimatePackBytes(blobs: readonly IndexBlob[]): number {
  if (blobs.length === 0) return 0;
  const bytes = blobs.reduce((n, b) => n + b.length, 0);
  return bytes + Math.ceil(bytes / PACK_TARGET_BYTES) * packFileBytes([]) + 41 * blobs.length;
}

/** Index files steps (1) and (2) will write, split as `writeIndex` splits them. */
function estimateIndexFiles(plans: readonly PackPlan[]): number {
  const files = (blobs: number): number => Math.ceil(blobs / MAX_BLOBS_PER_INDEX_FILE);
  const count = (action: PackAction, of: (p: PackPlan) => number): number => plans.filter((p) => p.action === action).reduce((n, p) => n + of(p), 0);
  return files(count('rewrite', (p) => p.provides.length)) + files(count('keep', (p) => p.pack.blobs.length));
}
