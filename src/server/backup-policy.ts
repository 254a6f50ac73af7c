import { Cron } from 'croner';
import { parseRepositoryUrl } from '../backup/backend/open.js';
import { compileExcludes } from '../backup/exclude.js';
import { validateRetentionPolicy } from '../backup/retention.js';
import { BulwarkError } from '../core/errors.js';
import { parseSelector } from '../core/labels.js';
import { FLEET_LOCATION_SUFFIX_MAX } from '../backup/fleet-keys.js';
import { absolutePathProblem, BACKUP_LIMITS, type PolicyInput } from '../protocol/backup.js';
import type { BackupPolicyRecord } from '../store/backup-policies.js';

/** Backup schedules are UTC, like audit schedules; five fields, or six with seconds first. */
const CRON_OPTIONS = { timezone: 'UTC', mode: '5-or-6-parts', paused: true } as const;
/** Fires looked at to find a schedule's longest gap (an irregular schedule, e.g. weekdays only, has several). */
const INTERVAL_SAMPLES = 16;

/** A paused job for a backup cron expression; INVALID_SCHEDULE naming the flag when it is not one. */
export function parseBackupCron(expression: string, flag = '--schedule'): Cron {
  let job: Cron;
  try {
    job = new Cron(expression, CRON_OPTIONS);
  } catch (err) {
    throw new BulwarkError('INVALID_SCHEDULE', `${flag} "${expression}" is not a cron expression (${err instanceof Error ? err.message : String(err)}); use five fields (minute hour day-of-month month day-of-week, UTC), e.g. "0 * * * *" for hourly`);
  }
  if (!job.nextRun(new Date())) {
    job.stop();
    throw new BulwarkError('INVALID_SCHEDULE', `${flag} "${expression}" never fires; use e.g. "0 * * * *" for hourly`);
  }
  return job;
}

/** The first time after `now` a backup cron expression fires, or null if never again. */
export function nextFireAt(expression: string, now: number): number | null {
  let job: Cron;
  try {
    job = new Cron(expression, CRON_OPTIONS);
  } catch {
    return null;
  }
  try {
    return job.nextRun(new Date(now))?.getTime() ?? null;
  } finally {
    job.stop();
  }
}

/**
 * The longest gap between consecutive fires among the next few after `now`:
 * the interval a node is expected to back up in, whatever the day.
 */
export function longestIntervalMs(expression: string, now: number): number {
  const job = parseBackupCron(expression);
  try {
    const fires = job.nextRuns(INTERVAL_SAMPLES, new Date(now)).map((d) => d.getTime());
    let longest = 0;
    for (let i = 1; i < fires.length; i++) longest = Math.max(longest, (fires[i] as number) - (fires[i - 1] as number));
    // One fire only (a date in the far future, say): the time until it is the gap.
    return longest > 0 ? longest : Math.max(1000, (fires[0] ?? now + 86_400_000) - now);
  } finally {
    job.stop();
  }
}

/** The recovery point objective a policy gets without `--max-age`: twice its schedule's longest interval. */
export function defaultMaxAgeMs(expression: string, now: number): number {
  return 2 * longestIntervalMs(expression, now);
}

/**
 * Where the agents open the repository, in one canonical spelling: an absolute,
 * normalised directory (it is opened on each node: a relative one would mean
 * something else on each), or `s3://bucket/prefix`.
 */
export function canonicalRepoLocation(repo: string): string {
  const value = repo.trim();
  if (/^s3:/i.test(value)) {
    const location = parseRepositoryUrl(value);
    if (location.kind !== 's3') throw new BulwarkError('BAD_REQUEST', `--repo ${value} is not an S3 location; write it as s3://bucket/prefix`);
    return location.prefix === '' ? `s3://${location.bucket}` : `s3://${location.bucket}/${location.prefix}`;
  }
  const problem = absolutePathProblem(value);
  if (problem !== undefined || value === '/') {
    throw new BulwarkError('BAD_REQUEST', `--repo ${JSON.stringify(value)} ${problem ?? 'must not be the root directory'}: on the nodes a repository is an absolute directory or s3://bucket/prefix`);
  }
  const location = parseRepositoryUrl(value);
  if (location.kind !== 'local') throw new BulwarkError('BAD_REQUEST', `--repo ${value}: a repository is an absolute directory or s3://bucket/prefix`);
  return location.path;
}

/** What a policy is, checked and normalised: the stored record's settings (the credential is handled apart). */
export type CheckedPolicy = Pick<
  BackupPolicyRecord,
  'selector' | 'paths' | 'excludes' | 'tags' | 'schedule' | 'repo' | 's3Endpoint' | 'retention' | 'prune' | 'drillSchedule' | 'drillSample' | 'maxAgeMs' | 'maxAgeDefault'
>;

/**
 * Checks a policy as the API received it (its shape already passed the schema):
 * a selector that names some nodes, paths absolute and normalised, exclude
 * patterns that compile, schedules croner reads, a repository location the
 * nodes can open, a retention policy that keeps something (or none: no forget).
 */
export function checkPolicy(input: PolicyInput, now: number): CheckedPolicy {
  const selector = parseSelector(input.selector);
  if (selector.requirements.length === 0) {
    throw new BulwarkError('INVALID_SELECTOR', 'the selector is empty: name the nodes to back up, e.g. role=db');
  }
  for (const path of input.paths) {
    const problem = absolutePathProblem(path);
    if (problem !== undefined) throw new BulwarkError('BAD_REQUEST', `--paths ${JSON.stringify(path)} ${problem}`);
  }
  compileExcludes(input.excludes);
  parseBackupCron(input.schedule).stop();
  if (input.drillSchedule !== undefined) parseBackupCron(input.drillSchedule, '--drill-schedule').stop();
  const repo = canonicalRepoLocation(input.repo);
  // Each node's repository is this location plus its id and epoch, and must still fit the protocol's bound.
  if (repo.length > BACKUP_LIMITS.maxRepoLength - FLEET_LOCATION_SUFFIX_MAX) {
    throw new BulwarkError('BAD_REQUEST', `--repo is ${repo.length} characters; a policy's repository location may have at most ${BACKUP_LIMITS.maxRepoLength - FLEET_LOCATION_SUFFIX_MAX}`);
  }
  const s3 = repo.startsWith('s3://');
  if (!s3 && input.s3Endpoint !== undefined) throw new BulwarkError('BAD_REQUEST', '--s3-endpoint only applies to an s3:// repository');
  if (!s3 && input.s3Credentials !== undefined) throw new BulwarkError('BAD_REQUEST', 'S3 access keys only apply to an s3:// repository');
  const retention = input.retention === undefined || Object.keys(input.retention).length === 0 ? null : input.retention;
  if (retention) validateRetentionPolicy(retention);
  const maxAgeDefault = input.maxAgeSeconds === undefined;
  return {
    selector: selector.source,
    paths: [...new Set(input.paths)],
    excludes: input.excludes.map((e) => e.trim()),
    tags: [...new Set(input.tags)],
    schedule: input.schedule.trim(),
    repo,
    s3Endpoint: input.s3Endpoint ?? null,
    retention,
    prune: input.prune,
    drillSchedule: input.drillSchedule?.trim() ?? null,
    drillSample: input.drillSample,
    maxAgeMs: maxAgeDefault ? defaultMaxAgeMs(input.schedule, now) : (input.maxAgeSeconds as number) * 1000,
    maxAgeDefault,
  };
}
