import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AgentMessageSchema, ServerMessageSchema } from './agent.js';
import { BACKUP_LIMITS, absolutePathProblem, type PolicyItem } from './backup.js';

const item = (over: Partial<PolicyItem> = {}): PolicyItem => ({
  name: 'db',
  version: 1,
  paths: ['/var/lib/app'],
  excludes: [],
  tags: [],
  schedule: '0 * * * *',
  repo: '/mnt/backups/db',
  credential: { kind: 'password', password: 'a long password' },
  prune: false,
  drillSample: 100,
  ...over,
});
const policies = (items: unknown[], host = 'db-1') => ServerMessageSchema.safeParse({ type: 'backup_policies', host, policies: items }).success;

test('the backup messages are part of the channel, each in its direction', () => {
  assert.equal(policies([item()]), true);
  assert.equal(ServerMessageSchema.safeParse({ type: 'backup_trigger', requestId: 'r1', policy: 'db' }).success, true);
  assert.equal(ServerMessageSchema.safeParse({ type: 'backup_restore', requestId: 'r1', policy: 'db', host: 'db-2', snapshot: 'latest', target: '/restore', include: ['/etc'], timeoutMs: 60_000 }).success, true);
  assert.equal(ServerMessageSchema.safeParse({ type: 'drill', requestId: 'r1', policy: 'db', sample: 100, timeoutMs: 60_000 }).success, true);
  const run = { type: 'backup_run', runId: 'u1', policy: 'db', policyVersion: 1, trigger: 'schedule', state: 'succeeded', startedAt: 1, finishedAt: 2, snapshotId: 'a'.repeat(64) };
  assert.equal(AgentMessageSchema.safeParse(run).success, true);
  assert.equal(AgentMessageSchema.safeParse({ type: 'backup_restore_result', requestId: 'r1', files: 1, dirs: 0, symlinks: 0, bytes: 3, problems: [], problemCount: 0, durationMs: 5 }).success, true);
  const drill = { type: 'drill_result', drillId: 'd1', policy: 'db', trigger: 'manual', state: 'succeeded', startedAt: 1, finishedAt: 2, filesInSnapshot: 3, filesSampled: 3, filesVerified: 3, filesFailed: 0, failures: [], sampleBytes: 10, totalBytes: 10, restoreMs: 4, estimatedRtoMs: 4, rpoMs: 100 };
  assert.equal(AgentMessageSchema.safeParse(drill).success, true);
  // Each only one way.
  assert.equal(AgentMessageSchema.safeParse({ type: 'backup_policies', host: 'db-1', policies: [] }).success, false);
  assert.equal(ServerMessageSchema.safeParse(run).success, false);
});

test('a policy list is bounded and checked field by field', () => {
  assert.equal(policies([]), true, 'an empty list says: run nothing');
  assert.equal(policies([item(), item()]), false, 'names are unique');
  assert.equal(policies(Array.from({ length: BACKUP_LIMITS.maxPoliciesPerNode + 1 }, (_, i) => item({ name: `p${i}` }))), false);
  assert.equal(policies([item({ name: 'Not OK' })]), false);
  assert.equal(policies([item({ paths: [] })]), false);
  assert.equal(policies([item({ paths: ['relative/x'] })]), false);
  assert.equal(policies([item({ paths: ['/a/../etc'] })]), false);
  assert.equal(policies([item({ repo: 'relative' })]), false);
  assert.equal(policies([item({ repo: 's3://backups/db' })]), true);
  assert.equal(policies([item({ s3Endpoint: 'http://user:pw@minio:9000' })]), false, 'no credentials in an endpoint URL');
  assert.equal(policies([item({ credential: { kind: 'password', password: 'x'.repeat(BACKUP_LIMITS.maxPasswordLength + 1) } })]), false);
  assert.equal(policies([item({ credential: { kind: 'key-file', keyFile: 'not base64!' } })]), false);
  assert.equal(policies([item({ retention: { daily: -2 } })]), false);
  assert.equal(policies([item({ drillSample: BACKUP_LIMITS.maxDrillSample + 1 })]), false);
  assert.equal(policies([item()], 'bad host name'), false);
});

test('reports from a node are bounded too', () => {
  const run = (over: Record<string, unknown>) => AgentMessageSchema.safeParse({ type: 'backup_run', runId: 'u1', policy: 'db', policyVersion: 1, trigger: 'schedule', state: 'failed', startedAt: 1, finishedAt: 2, ...over }).success;
  assert.equal(run({ error: { code: 'STORAGE_FAILED', message: 'x'.repeat(BACKUP_LIMITS.maxErrorLength) } }), true);
  assert.equal(run({ error: { code: 'STORAGE_FAILED', message: 'x'.repeat(BACKUP_LIMITS.maxErrorLength + 1) } }), false);
  assert.equal(run({ notes: Array.from({ length: BACKUP_LIMITS.maxNotes + 1 }, () => 'n') }), false);
  assert.equal(run({ snapshotId: 'not hex' }), false);
  assert.equal(run({ state: 'exploded' }), false);
  assert.equal(run({ stats: { filesNew: -1, filesChanged: 0, filesUnchanged: 0, dirs: 0, bytesProcessed: 0, bytesAdded: 0, bytesStored: 0, totalFiles: 0, totalBytes: 0, errors: 0 } }), false);
  const failures = Array.from({ length: BACKUP_LIMITS.maxListedProblems + 1 }, () => ({ path: '/x', reason: 'r' }));
  assert.equal(
    AgentMessageSchema.safeParse({ type: 'drill_result', drillId: 'd', policy: 'db', trigger: 'manual', state: 'failed', startedAt: 1, finishedAt: 2, filesInSnapshot: 0, filesSampled: 0, filesVerified: 0, filesFailed: 0, failures, sampleBytes: 0, totalBytes: 0, restoreMs: 0, estimatedRtoMs: null, rpoMs: null }).success,
    false,
  );
});

test('absolute paths: / is one, anything relative or not normalised is not', () => {
  assert.equal(absolutePathProblem('/'), undefined);
  assert.equal(absolutePathProblem('/var/lib/app'), undefined);
  assert.match(absolutePathProblem('var') ?? '', /absolute/);
  assert.match(absolutePathProblem('/var/') ?? '', /end with/);
  assert.match(absolutePathProblem('/var//lib') ?? '', /normalised/);
  assert.match(absolutePathProblem('/var/./lib') ?? '', /normalised/);
  assert.match(absolutePathProblem('/var/\0') ?? '', /NUL/);
});
