import { randomInt } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, lstat, mkdtemp, realpath, rm } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { backup } from '../backup/archiver.js';
import type { Backend } from '../backup/backend/backend.js';
import { LocalBackend } from '../backup/backend/local.js';
import { parseRepositoryUrl } from '../backup/backend/open.js';
import { Chunker, gearTable } from '../backup/chunker.js';
import { BLOB_DATA, blobId, type RepositoryKeys } from '../backup/crypto.js';
import { forget } from '../backup/forget.js';
import type { Credential } from '../backup/key-file.js';
import { walkTree } from '../backup/listing.js';
import { prune } from '../backup/prune.js';
import { Repository } from '../backup/repository.js';
import { restore, type RestoreProblem } from '../backup/restorer.js';
import { findSnapshot } from '../backup/snapshot.js';
import { isSafeName, type TreeNode } from '../backup/tree.js';
import { protectedBelow, protectedLocation } from './secret-delivery.js';
import type { Clock } from '../core/clock.js';
import { BulwarkError, isBulwarkError } from '../core/errors.js';
import { BACKUP_LIMITS, type PolicyItem, type RunState, type RunStats } from '../protocol/backup.js';

/*
 * What the agent does with a repository: back up by a policy, restore a
 * snapshot, and drill. Each opens the repository afresh from the policy the
 * server sent (its credential only ever in memory) and closes it, wiping the
 * keys, when done. Nothing here logs or reports a credential: engine errors
 * name locations and ids, never secrets.
 */

/** Worker threads per backup or restore: a node's backup must not take every core from the work the node is for. */
export function agentWorkers(): number {
  return Math.max(1, Math.min(4, availableParallelism() - 1));
}

function credentialOf(item: PolicyItem): Credential {
  return item.credential.kind === 'password' ? { kind: 'password', password: item.credential.password } : { kind: 'key-file', bytes: Buffer.from(item.credential.keyFile, 'base64') };
}

/** The policy's storage; the AWS SDK is loaded only for an s3:// repository. */
async function backendOf(item: PolicyItem): Promise<Backend> {
  const location = parseRepositoryUrl(item.repo);
  if (location.kind === 'local') return new LocalBackend(location.path);
  const { S3Backend } = await import('../backup/backend/s3.js');
  return new S3Backend({
    bucket: location.bucket,
    prefix: location.prefix,
    ...(item.s3Endpoint === undefined ? {} : { endpoint: item.s3Endpoint }),
    ...(item.s3 === undefined ? {} : { credentials: { accessKeyId: item.s3.accessKeyId, secretAccessKey: item.s3.secretAccessKey } }),
  });
}

/**
 * Opens a policy's repository. With `create`, a repository that does not
 * exist yet is made with the policy's credential (the first backup of a new
 * policy); if another node made it at the same moment, it is opened instead
 * (the engine removes the losing node's key file, and passes over one a crash
 * left behind).
 */
export async function openPolicyRepository(item: PolicyItem, create: boolean): Promise<{ repo: Repository; created: boolean }> {
  const backend = await backendOf(item);
  const credential = credentialOf(item);
  try {
    try {
      return { repo: await Repository.open(backend, credential), created: false };
    } catch (err) {
      if (!create || !isBulwarkError(err) || err.code !== 'REPOSITORY_NOT_FOUND') throw err;
    }
    try {
      return { repo: await Repository.init(backend, credential), created: true };
    } catch (err) {
      if (!isBulwarkError(err) || err.code !== 'CONFLICT') throw err;
      return { repo: await Repository.open(backend, credential), created: false };
    }
  } catch (err) {
    await backend.close().catch(() => undefined);
    throw err;
  } finally {
    if (credential.kind === 'key-file') credential.bytes.fill(0);
  }
}

async function closeRepository(repo: Repository): Promise<void> {
  repo.close();
  await repo.backend.close().catch(() => undefined);
}

/** Waits between tries on a locked repository: about a minute in all, jittered so nodes sharing a repository spread out. */
const LOCK_RETRY_MS = [500, 1000, 2000, 4000, 8000, 15_000, 15_000, 15_000];

/**
 * Runs `work`, trying again while the repository is locked by someone else:
 * nodes sharing a repository take turns for forget and prune, which lock it
 * exclusively for a moment. Other failures are not retried.
 */
export async function withLockRetry<T>(work: () => Promise<T>, delays: readonly number[] = LOCK_RETRY_MS): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await work();
    } catch (err) {
      const delay = delays[attempt];
      if (!isBulwarkError(err) || err.code !== 'REPOSITORY_LOCKED' || delay === undefined) throw err;
      await new Promise((resolve) => setTimeout(resolve, delay / 2 + randomInt(Math.max(1, Math.floor(delay / 2)))));
    }
  }
}

export function errorOf(err: unknown): { code: string; message: string } {
  if (isBulwarkError(err)) return { code: err.code, message: err.message.slice(0, BACKUP_LIMITS.maxErrorLength) };
  const e = err as NodeJS.ErrnoException;
  return { code: 'INTERNAL', message: `${e?.code ?? 'error'}: ${String(e?.message ?? err)}`.slice(0, BACKUP_LIMITS.maxErrorLength) };
}

function note(text: string): string {
  return text.slice(0, BACKUP_LIMITS.maxNoteLength);
}

export interface BackupOutcome {
  state: RunState;
  snapshotId?: string;
  stats?: RunStats;
  forgotten?: number;
  pruned?: boolean;
  error?: { code: string; message: string };
  notes: string[];
}

/** Files named one by one in a run's notes when they could not be read; the count is in the stats. */
const UNREADABLE_NOTED = 5;

/**
 * One backup run of a policy: back up its paths (as `host`), then forget this
 * host's snapshots the retention policy does not keep, then prune if asked and
 * something was forgotten. A run fails only when no snapshot was written; a
 * forget or prune that fails after a good backup is reported beside it.
 */
export async function runBackupJob(item: PolicyItem, host: string, dataDir?: string): Promise<BackupOutcome> {
  const notes: string[] = [];
  let opened: Awaited<ReturnType<typeof openPolicyRepository>>;
  try {
    opened = await openPolicyRepository(item, true);
  } catch (err) {
    return { state: 'failed', error: errorOf(err), notes };
  }
  const { repo } = opened;
  if (opened.created) notes.push(note(`created the repository at ${repo.backend.location}`));
  try {
    const unreadable: string[] = [];
    let result: Awaited<ReturnType<typeof backup>>;
    try {
      result = await withLockRetry(() => backup(repo, {
        paths: item.paths,
        excludes: item.excludes,
        tags: item.tags,
        host,
        // The agent's own key and identity never leave the node, whatever a policy's paths say.
        ...(dataDir === undefined ? {} : { neverInclude: [dataDir] }),
        workers: agentWorkers(),
        onError: (path, message) => {
          if (unreadable.length < UNREADABLE_NOTED) unreadable.push(note(`could not read ${path}: ${message}`));
        },
      }));
    } catch (err) {
      return { state: 'failed', error: errorOf(err), notes };
    }
    const s = result.snapshot.summary;
    const stats: RunStats | undefined = s && {
      filesNew: s.filesNew,
      filesChanged: s.filesChanged,
      filesUnchanged: s.filesUnchanged,
      dirs: s.dirs,
      bytesProcessed: s.bytesProcessed,
      bytesAdded: s.bytesAdded,
      bytesStored: s.bytesStored,
      totalFiles: s.totalFiles,
      totalBytes: s.totalBytes,
      errors: s.errors,
    };
    notes.push(...unreadable.slice(0, BACKUP_LIMITS.maxNotes - notes.length - 2));
    const outcome: BackupOutcome = { state: (s?.errors ?? 0) > 0 ? 'partial' : 'succeeded', snapshotId: result.id, ...(stats ? { stats } : {}), notes };
    if (item.retention) {
      const retention = item.retention;
      try {
        outcome.forgotten = (await withLockRetry(() => forget(repo, retention, { host }))).removed.length;
      } catch (err) {
        if (isBulwarkError(err) && err.code === 'REPOSITORY_LOCKED') notes.push(note('forget skipped: the repository stayed locked by another process; the next run tries again'));
        else {
          outcome.error = errorOf(err);
          notes.push(note('the retention policy was not applied: forget failed'));
        }
        return outcome;
      }
      if (item.prune && outcome.forgotten > 0) {
        try {
          await prune(repo);
          outcome.pruned = true;
        } catch (err) {
          outcome.pruned = false;
          if (isBulwarkError(err) && err.code === 'REPOSITORY_LOCKED') notes.push(note('prune skipped: another process holds a lock on the repository; the next run tries again'));
          else outcome.error = errorOf(err);
        }
      }
    }
    return outcome;
  } finally {
    await closeRepository(repo);
  }
}

/**
 * Why a restore target is refused, or undefined. Never `/` itself, and never
 * the agent's data directory, anything inside it, or anything above it (a
 * snapshot's paths land below the target, so a target above the data
 * directory could reach its key). Checked on real paths, so a symbolic link
 * cannot lead there.
 */
export async function restoreTargetProblem(target: string, dataDir: string, restoreDirs: readonly string[] = []): Promise<string | undefined> {
  if (target === '/') return 'the target must not be / itself: restore into an empty directory and move what you need';
  return realTargetProblem(await realExisting(target), await realpath(dataDir).catch(() => dataDir), restoreDirs);
}

/**
 * The same rules on real paths: not /, not in or around the agent's data
 * directory, and either inside the agent's `backup.restore_dirs` or, without
 * them, neither in nor around a protected system location (what runs as root,
 * who may log in).
 */
function realTargetProblem(real: string, data: string, restoreDirs: readonly string[]): string | undefined {
  if (real === '/') return 'the target resolves to / itself';
  if (isWithin(real, data)) return "the target is inside the agent's data directory";
  if (isWithin(data, real)) return "the target contains the agent's data directory";
  if (restoreDirs.length > 0) {
    return restoreDirs.some((dir) => isWithin(real, dir)) ? undefined : `the target is outside the directories this agent allows restores in (backup.restore_dirs: ${restoreDirs.join(', ')})`;
  }
  const hit = protectedLocation(real) ?? protectedBelow(real);
  return hit === undefined ? undefined : `the target is or holds a protected system location (${hit}); allow it with backup.restore_dirs in the agent's config.yaml`;
}

/** The real path of `path`, resolving its longest existing prefix (the rest does not exist yet). */
async function realExisting(path: string): Promise<string> {
  let head = path;
  const tail: string[] = [];
  for (;;) {
    try {
      return join(await realpath(head), ...tail.reverse());
    } catch {
      const parent = dirname(head);
      if (parent === head) return path;
      tail.push(head.slice(parent.length).replace(/^\//, ''));
      head = parent;
    }
  }
}

function isWithin(path: string, dir: string): boolean {
  const rel = relative(dir, path);
  return rel === '' || (!rel.startsWith('..') && !rel.startsWith(sep) && rel !== '..');
}

export interface RestoreJobInput {
  host: string;
  snapshot: string;
  target: string;
  include: readonly string[];
}

export interface RestoreJobResult {
  snapshotId: string;
  snapshotTime: number;
  files: number;
  dirs: number;
  symlinks: number;
  bytes: number;
  problems: RestoreProblem[];
}

/** Restores a snapshot of `host` (latest, or by id prefix) into the target. */
export async function restoreJob(item: PolicyItem, input: RestoreJobInput, dataDir: string, restoreDirs: readonly string[] = []): Promise<RestoreJobResult> {
  const problem = await restoreTargetProblem(input.target, dataDir, restoreDirs);
  if (problem !== undefined) throw new BulwarkError('UNSAFE_PATH', `restore target ${input.target} refused: ${problem}`);
  const { repo } = await openPolicyRepository(item, false);
  try {
    await repo.loadIndex();
    const snap = findSnapshot(await repo.listSnapshots(() => undefined), input.snapshot, { host: input.host });
    // The same restore as the stand-alone one: small files in pack order, large blobs opened on one worker thread.
    // Checked again on the directory as the restore opens it: the target may have been swapped for a symlink meanwhile.
    const dataReal = await realpath(dataDir).catch(() => dataDir);
    const result = await withLockRetry(() => restore(repo, snap.tree, { target: input.target, include: input.include, refuseTarget: (real) => realTargetProblem(real, dataReal, restoreDirs) }));
    return { snapshotId: snap.id, snapshotTime: Date.parse(snap.time), ...result };
  } finally {
    await closeRepository(repo);
  }
}

export interface DrillOutcome {
  snapshotId: string;
  snapshotTime: number;
  filesInSnapshot: number;
  filesSampled: number;
  filesVerified: number;
  filesFailed: number;
  failures: { path: string; reason: string }[];
  sampleBytes: number;
  totalBytes: number;
  restoreMs: number;
  estimatedRtoMs: number | null;
  rpoMs: number;
}

/**
 * A recovery drill: the latest snapshot of `host`, a random sample of `sample`
 * of its files (all when it has fewer) restored into a fresh scratch
 * directory in the data directory (0700, removed afterwards), each checked
 * against what the snapshot recorded — its size, and its content cut again
 * with the repository's chunker, every chunk's id compared — and the time the
 * sample took scaled up to the whole snapshot as an estimate of a full restore.
 */
export async function drillJob(item: PolicyItem, host: string, sample: number, dataDir: string, clock: Clock): Promise<DrillOutcome> {
  const { repo } = await openPolicyRepository(item, false);
  try {
    await repo.loadIndex();
    const snap = findSnapshot(await repo.listSnapshots(() => undefined), 'latest', { host });
    // Reservoir sampling: one pass over the tree, memory for the sample only.
    const chosen: { path: string; node: TreeNode }[] = [];
    let files = 0;
    let totalBytes = 0;
    for await (const { path, node } of walkTree(repo, snap.tree)) {
      if (node.type !== 'file') continue;
      // A name that is not a plain file name (a crafted snapshot) is never sampled: verifying it would reach outside the scratch directory.
      if (!path.split('/').every((part, i) => (i === 0 && part === '') || (isSafeName(part) && Buffer.byteLength(part) <= 255))) continue;
      files += 1;
      totalBytes += node.size ?? 0;
      if (chosen.length < sample) chosen.push({ path, node });
      else {
        const j = randomInt(files);
        if (j < sample) chosen[j] = { path, node };
      }
    }
    const sampleBytes = chosen.reduce((n, c) => n + (c.node.size ?? 0), 0);
    const failures: { path: string; reason: string }[] = [];
    let restoreMs = 0;
    let failed = 0;
    if (chosen.length > 0) {
      const scratch = await mkdtemp(join(dataDir, 'drill-'));
      try {
        await chmod(scratch, 0o700);
        let started = clock.now();
        // Timed from the last try: waiting out another node's lock is not restore time.
        const { problems } = await withLockRetry(() => {
          started = clock.now();
          return restore(repo, snap.tree, { target: scratch, include: chosen.map((c) => c.path), owners: false });
        });
        restoreMs = Math.max(0, clock.now() - started);
        const byPath = new Map(problems.map((p) => [p.path, p.message]));
        for (const { path, node } of chosen) {
          const reason = await verifyRestoredFile(join(scratch, path), node, repo.keys);
          if (reason === undefined) continue;
          failed += 1;
          if (failures.length < BACKUP_LIMITS.maxListedProblems) failures.push({ path: path.slice(0, BACKUP_LIMITS.maxPathLength), reason: (byPath.get(path) ?? reason).slice(0, BACKUP_LIMITS.maxErrorLength) });
        }
      } finally {
        await rm(scratch, { recursive: true, force: true });
      }
    }
    const snapshotTime = Date.parse(snap.time);
    return {
      snapshotId: snap.id,
      snapshotTime,
      filesInSnapshot: files,
      filesSampled: chosen.length,
      filesVerified: chosen.length - failed,
      filesFailed: failed,
      failures,
      sampleBytes,
      totalBytes,
      restoreMs,
      estimatedRtoMs: sampleBytes > 0 ? Math.round((restoreMs * totalBytes) / sampleBytes) : null,
      rpoMs: Math.max(0, clock.now() - snapshotTime),
    };
  } finally {
    await closeRepository(repo);
  }
}

const READ_BLOCK = 1024 * 1024;

/**
 * Whether a restored file is what the snapshot recorded: a regular file of
 * the recorded size whose content, cut into chunks by the repository's own
 * chunker, gives exactly the recorded chunk ids. Undefined when it is; the
 * reason otherwise. The file is read as a stream: a chunk at a time in memory.
 */
export async function verifyRestoredFile(path: string, node: TreeNode, keys: RepositoryKeys): Promise<string | undefined> {
  const st = await lstat(path).catch(() => undefined);
  if (!st) return 'not restored';
  if (!st.isFile()) return 'not restored as a regular file';
  const size = node.size ?? 0;
  if (st.size !== size) return `restored with ${st.size} bytes, the snapshot recorded ${size}`;
  // The restored mode may not let even the owner read it (0000): the scratch copy is ours.
  await chmod(path, 0o600).catch(() => undefined);
  const expected = node.content ?? [];
  const chunker = new Chunker(gearTable(keys.chunker));
  let pending: Buffer[] = [];
  let index = 0;
  let mismatch: string | undefined;
  const take = (length: number): void => {
    const all = pending.length === 1 ? (pending[0] as Buffer) : Buffer.concat(pending);
    const chunk = all.subarray(0, length);
    pending = all.length > length ? [all.subarray(length)] : [];
    if (mismatch !== undefined) return;
    const id = blobId(keys.mac, BLOB_DATA, chunk).toString('hex');
    if (expected[index] !== id) mismatch = `content differs from the snapshot at chunk ${index + 1} of ${expected.length}`;
    index += 1;
  };
  try {
    for await (const block of createReadStream(path, { highWaterMark: READ_BLOCK })) {
      const data = block as Buffer;
      pending.push(data);
      for (const length of chunker.push(data)) take(length);
      if (mismatch !== undefined) return mismatch;
    }
  } catch (err) {
    return `cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`;
  }
  const last = chunker.finish();
  if (last !== undefined) take(last);
  if (mismatch !== undefined) return mismatch;
  if (index !== expected.length) return `content has ${index} chunks, the snapshot recorded ${expected.length}`;
  return undefined;
}
