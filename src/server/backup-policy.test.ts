import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BulwarkError } from '../core/errors.js';
import { PolicyInputSchema, type PolicyInput } from '../protocol/backup.js';
import { canonicalRepoLocation, checkPolicy, defaultMaxAgeMs, longestIntervalMs, nextFireAt, parseBackupCron } from './backup-policy.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Wednesday 2026-01-07 10:30 UTC. */
const NOW = Date.UTC(2026, 0, 7, 10, 30);

function input(over: Partial<PolicyInput> = {}): PolicyInput {
  return PolicyInputSchema.parse({ selector: 'role=db', paths: ['/var/lib/app', '/etc'], schedule: '0 * * * *', repo: '/mnt/backups/db', ...over });
}

function rejects(fn: () => unknown, code: string, message: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof BulwarkError, String(err));
    assert.equal(err.code, code);
    assert.match(err.message, message);
    return true;
  });
}

test('a valid policy comes back normalised, with max-age twice the schedule interval by default', () => {
  const checked = checkPolicy(input({ selector: '  role = db ', paths: ['/etc', '/etc'], excludes: [' *.tmp '], tags: ['a', 'a'] }), NOW);
  assert.equal(checked.selector, 'role = db');
  assert.deepEqual(checked.paths, ['/etc']);
  assert.deepEqual(checked.excludes, ['*.tmp']);
  assert.deepEqual(checked.tags, ['a']);
  assert.equal(checked.maxAgeMs, 2 * HOUR);
  assert.equal(checked.maxAgeDefault, true);
  assert.equal(checked.retention, null, 'no retention: no forget');
  assert.equal(checkPolicy(input({ maxAgeSeconds: 90 }), NOW).maxAgeMs, 90_000);
  assert.deepEqual(checkPolicy(input({ retention: { daily: 7, weekly: 4 } }), NOW).retention, { daily: 7, weekly: 4 });
  assert.equal(checkPolicy(input({ retention: {} }), NOW).retention, null, 'an empty retention is none');
});

test('a policy is refused, naming what is wrong', () => {
  rejects(() => checkPolicy(input({ selector: ' ' }), NOW), 'INVALID_SELECTOR', /empty/);
  const deep = (length: number): string => `/${Array.from({ length: Math.ceil(length / 100) }, () => 'r'.repeat(99)).join('/')}`.slice(0, length).replace(/\/$/, 'x');
  rejects(() => checkPolicy(input({ repo: deep(938) }), NOW), 'BAD_REQUEST', /--repo is 938 characters; .* at most 937/);
  assert.equal(checkPolicy(input({ repo: deep(937) }), NOW).repo.length, 937, 'room left for every node location');
  rejects(() => checkPolicy(input({ selector: 'role in (' }), NOW), 'INVALID_SELECTOR', /./);
  rejects(() => checkPolicy(input({ schedule: 'hourly-ish' }), NOW), 'INVALID_SCHEDULE', /--schedule "hourly-ish" is not a cron expression/);
  rejects(() => checkPolicy(input({ drillSchedule: '61 * * * *' }), NOW), 'INVALID_SCHEDULE', /--drill-schedule/);
  rejects(() => checkPolicy(input({ excludes: ['[abc'] }), NOW), 'BAD_REQUEST', /without its "\]"/);
  rejects(() => checkPolicy(input({ repo: 'backups/db' }), NOW), 'BAD_REQUEST', /absolute directory or s3/);
  rejects(() => checkPolicy(input({ repo: '/' }), NOW), 'BAD_REQUEST', /root directory/);
  rejects(() => checkPolicy(input({ repo: 'sftp://host/x' }), NOW), 'BAD_REQUEST', /absolute/);
  rejects(() => checkPolicy(input({ s3Endpoint: 'http://minio:9000' }), NOW), 'BAD_REQUEST', /only applies to an s3:\/\/ repository/);
  rejects(() => checkPolicy(input({ s3Credentials: { accessKeyId: 'a', secretAccessKey: 'b' } }), NOW), 'BAD_REQUEST', /only apply to an s3/);
  rejects(() => checkPolicy(input({ retention: { last: 0 } }), NOW), 'BAD_REQUEST', /./);
  // The schema holds the shape: relative and non-normalised paths never get this far.
  assert.equal(PolicyInputSchema.safeParse({ ...input(), paths: ['var/lib'] }).success, false);
  assert.equal(PolicyInputSchema.safeParse({ ...input(), paths: ['/var/../etc'] }).success, false);
  assert.equal(PolicyInputSchema.safeParse({ ...input(), paths: ['/'] }).success, true, '/ itself may be backed up');
});

test('repository locations get one canonical spelling', () => {
  assert.equal(canonicalRepoLocation('S3://backups/fleet/db/'), 's3://backups/fleet/db');
  assert.equal(canonicalRepoLocation('s3://backups'), 's3://backups');
  assert.equal(canonicalRepoLocation(' /mnt/backups/db '), '/mnt/backups/db');
  assert.throws(() => canonicalRepoLocation('s3://Bad_Bucket/x'), /not an S3 bucket name/);
  assert.throws(() => canonicalRepoLocation('/mnt//db'), /normalised/);
});

test('schedules: five fields or six with seconds, UTC; the longest gap sets the default objective', () => {
  assert.equal(nextFireAt('0 * * * *', NOW), Date.UTC(2026, 0, 7, 11, 0));
  assert.equal(nextFireAt('0 3 * * *', NOW), Date.UTC(2026, 0, 8, 3, 0));
  assert.equal(nextFireAt('*/2 * * * * *', NOW), NOW + 2000);
  assert.equal(nextFireAt('not cron', NOW), null);
  assert.equal(longestIntervalMs('0 * * * *', NOW), HOUR);
  assert.equal(longestIntervalMs('*/2 * * * * *', NOW), 2000);
  assert.equal(longestIntervalMs('@daily', NOW), DAY);
  // Weekdays at 02:00: Friday to Monday is the longest gap.
  assert.equal(longestIntervalMs('0 2 * * 1-5', NOW), 3 * DAY);
  assert.equal(defaultMaxAgeMs('0 2 * * 1-5', NOW), 6 * DAY);
  assert.throws(() => parseBackupCron('* * * *'), /not a cron expression/);
  assert.throws(() => parseBackupCron('0 0 30 2 *'), /never fires/);
});
