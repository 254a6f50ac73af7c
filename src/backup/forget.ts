import { mapLimit } from './concurrency.js';
import { RepositoryLock } from './lock.js';
import type { Repository } from './repository.js';
import { applyRetention, type RetentionGroup, type RetentionGroupField, type RetentionPolicy } from './retention.js';

export interface ForgetOptions {
  /** Decide and report, remove nothing. */
  dryRun?: boolean;
  /** Snapshots are grouped by these fields and the policy applies to each group alone (default host and paths). */
  groupBy?: RetentionGroupField[];
  /** Apply the policy to this host's snapshots only; every other host's are kept. */
  host?: string;
  /** The calendar that hourly/daily/… rules count in (default UTC). */
  timeZone?: 'UTC' | 'local';
}

export interface ForgetResult {
  groups: RetentionGroup[];
  /** Ids of the snapshots removed (or, in a dry run, that would be). */
  removed: string[];
}

const REMOVALS_AT_ONCE = 8;

/**
 * Removes the snapshots a retention policy does not keep (their data stays until
 * `prune`). Takes an exclusive lock, so no prune runs beside it and no backup
 * picks a parent that is about to go. A snapshot that cannot be read is left alone.
 *
 * @example
 * const { removed } = await forget(repo, { daily: 7, weekly: 4 });
 */
export async function forget(repo: Repository, policy: RetentionPolicy, options: ForgetOptions = {}): Promise<ForgetResult> {
  const lock = await RepositoryLock.acquire(repo.backend, repo.keys.encryption, options.dryRun !== true);
  try {
    const snapshots = (await repo.listSnapshots(() => undefined)).filter((s) => options.host === undefined || s.host === options.host);
    const { groups } = applyRetention(
      snapshots.map((s) => ({ id: s.id, time: Date.parse(s.time), host: s.host, paths: s.paths, tags: s.tags })),
      policy,
      { groupBy: options.groupBy, timeZone: options.timeZone },
    );
    const removed = groups.flatMap((g) => g.remove);
    if (options.dryRun !== true) await mapLimit(removed, REMOVALS_AT_ONCE, (id) => repo.removeSnapshot(id));
    return { groups, removed };
  } finally {
    await lock.release().catch(() => undefined);
  }
}
