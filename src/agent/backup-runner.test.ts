import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock } from '../core/clock.js';
import { silentLogger } from '../core/logger.js';
import type { AgentMessage } from '../protocol/agent.js';
import type { BackupRestoreResult, BackupRunMessage, DrillResultMessage, PolicyItem } from '../protocol/backup.js';
import { BackupRunner, withoutEpochs } from './backup-runner.js';

async function until<T>(fn: () => T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = fn();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('the backup runner', () => {
  let dir: string;
  let item: PolicyItem;
  let runner: BackupRunner;
  const sent: AgentMessage[] = [];
  const runs = (): BackupRunMessage[] => sent.filter((m): m is BackupRunMessage => m.type === 'backup_run');

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bulwark-backup-runner-'));
    await mkdir(join(dir, 'data'));
    await mkdir(join(dir, 'agent'), { mode: 0o700 });
    await writeFile(join(dir, 'data', 'f.txt'), 'file\n');
    item = {
      name: 'p',
      version: 1,
      paths: [join(dir, 'data')],
      excludes: [],
      tags: [],
      // Never on its own during the test: runs are triggered.
      schedule: '0 0 1 1 *',
      repo: join(dir, 'repo'),
      credential: { kind: 'key-file', keyFile: randomBytes(48).toString('base64') },
      prune: false,
      drillSample: 10,
    };
    runner = new BackupRunner({ dataDir: join(dir, 'agent'), clock: systemClock, log: silentLogger });
    runner.connected((m) => sent.push(m));
  });

  after(async () => {
    runner.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('schedules the policies it is sent and drops the ones no longer listed', () => {
    runner.apply({ type: 'backup_policies', host: 'node-1', policies: [item, { ...item, name: 'q' }] });
    assert.deepEqual(runner.policies.sort(), ['p', 'q']);
    runner.apply({ type: 'backup_policies', host: 'node-1', policies: [item] });
    assert.deepEqual(runner.policies, ['p']);
  });

  test('a triggered run answers with its request id; one started while it runs is skipped', async () => {
    runner.trigger({ type: 'backup_trigger', requestId: 'r1', policy: 'p' });
    runner.trigger({ type: 'backup_trigger', requestId: 'r2', policy: 'p' });
    const first = await until(() => runs().find((m) => m.requestId === 'r1'));
    const second = await until(() => runs().find((m) => m.requestId === 'r2'));
    assert.equal(first.state, 'succeeded', JSON.stringify(first));
    assert.equal(first.trigger, 'manual');
    assert.equal(first.policyVersion, 1);
    assert.match(first.snapshotId ?? '', /^[0-9a-f]{64}$/);
    assert.equal(second.state, 'skipped');
    assert.deepEqual(second.notes, ['the previous run of this policy was still going']);
    assert.ok(first.finishedAt >= first.startedAt);
  });

  test('an unknown policy is answered, not ignored', async () => {
    runner.trigger({ type: 'backup_trigger', requestId: 'r3', policy: 'nope' });
    const answer = await until(() => runs().find((m) => m.requestId === 'r3'));
    assert.equal(answer.state, 'failed');
    assert.equal(answer.error?.code, 'NOT_FOUND');
    await runner.restore({ type: 'backup_restore', requestId: 'r4', policy: 'nope', host: 'node-1', snapshot: 'latest', target: join(dir, 'r'), include: [], timeoutMs: 60_000 });
    const refused = sent.find((m): m is BackupRestoreResult => m.type === 'backup_restore_result' && m.requestId === 'r4');
    assert.equal(refused?.error?.code, 'NOT_FOUND');
  });

  test('a drill and a restore run through the same policy', async () => {
    runner.drill({ type: 'drill', requestId: 'd1', policy: 'p', sample: 5, timeoutMs: 60_000 });
    const drill = await until(() => sent.find((m): m is DrillResultMessage => m.type === 'drill_result' && m.requestId === 'd1'));
    assert.equal(drill.state, 'succeeded', JSON.stringify(drill));
    assert.equal(drill.filesVerified, 1);
    await runner.restore({ type: 'backup_restore', requestId: 'r5', policy: 'p', host: 'node-1', snapshot: 'latest', target: join(dir, 'restored'), include: [], timeoutMs: 60_000 });
    const restored = sent.find((m): m is BackupRestoreResult => m.type === 'backup_restore_result' && m.requestId === 'r5');
    assert.equal(restored?.files, 1);
    assert.equal(restored?.error, undefined);
  });

  test("a restore with a source opens that repository with that key, not the policy's own", async () => {
    // The "other node": a repository of its own, under its own key, made by a runner of that node.
    const otherItem: PolicyItem = { ...item, repo: join(dir, 'other-repo'), credential: { kind: 'key-file', keyFile: randomBytes(32).toString('base64') } };
    const other = new BackupRunner({ dataDir: join(dir, 'agent'), clock: systemClock, log: silentLogger });
    const otherSent: AgentMessage[] = [];
    other.connected((m) => otherSent.push(m));
    other.apply({ type: 'backup_policies', host: 'node-2', policies: [otherItem] });
    other.trigger({ type: 'backup_trigger', requestId: 'o1', policy: 'p' });
    await until(() => otherSent.find((m) => m.type === 'backup_run' && m.requestId === 'o1'));
    other.stop();
    const ask = (requestId: string, source?: { repo: string; credential: PolicyItem['credential'] }): Promise<void> =>
      runner.restore({ type: 'backup_restore', requestId, policy: 'p', host: 'node-2', ...(source ? { source } : {}), snapshot: 'latest', target: join(dir, `restored-${requestId}`), include: [], timeoutMs: 60_000 });
    await ask('r6', { repo: otherItem.repo, credential: otherItem.credential });
    const fromOther = sent.find((m): m is BackupRestoreResult => m.type === 'backup_restore_result' && m.requestId === 'r6');
    assert.equal(fromOther?.error, undefined, JSON.stringify(fromOther));
    assert.equal(fromOther?.files, 1);
    await ask('r7');
    const own = sent.find((m): m is BackupRestoreResult => m.type === 'backup_restore_result' && m.requestId === 'r7');
    assert.equal(own?.error?.code, 'NOT_FOUND', "node-2 has no snapshots in this node's own repository");
    await ask('r8', { repo: otherItem.repo, credential: item.credential });
    const wrongKey = sent.find((m): m is BackupRestoreResult => m.type === 'backup_restore_result' && m.requestId === 'r8');
    assert.equal(wrongKey?.error?.code, 'BACKUP_KEY_WRONG');
  });

  test('runs on its schedule, and keeps reports while disconnected', async () => {
    runner.disconnected();
    runner.apply({ type: 'backup_policies', host: 'node-1', policies: [{ ...item, version: 2, schedule: '* * * * * *' }] });
    await new Promise((resolve) => setTimeout(resolve, 2500));
    const before = runs().length;
    runner.apply({ type: 'backup_policies', host: 'node-1', policies: [] });
    assert.deepEqual(runner.policies, []);
    runner.connected((m) => sent.push(m));
    const scheduled = await until(() => runs().slice(before).find((m) => m.trigger === 'schedule'));
    assert.equal(scheduled.policyVersion, 2);
    assert.ok(scheduled.state === 'succeeded' || scheduled.state === 'skipped');
  });
});

test('reports leave out the epoch of fleet repository locations (a hash of the policy key), and nothing else', () => {
  const run = {
    type: 'backup_run' as const,
    runId: 'r',
    policy: 'db',
    policyVersion: 1,
    trigger: 'schedule' as const,
    state: 'failed' as const,
    startedAt: 1,
    finishedAt: 2,
    notes: ['created the repository at /srv/b/node_abc234/0123456789abcdef'],
    error: { code: 'STORAGE_FAILED', message: 'cannot write /srv/b/node_abc234/0123456789abcdef/data/01/0123456789abcdef0123 (EACCES)' },
  };
  assert.deepEqual(withoutEpochs(run), {
    ...run,
    notes: ['created the repository at /srv/b/node_abc234/…'],
    error: { code: 'STORAGE_FAILED', message: 'cannot write /srv/b/node_abc234/…/data/01/0123456789abcdef0123 (EACCES)' },
  });
  const plain = { ...run, notes: ['/srv/b/host/0123456789abcdef'], error: { code: 'X', message: 'node_abc234/0123456789abcdef01' } };
  assert.equal(withoutEpochs(plain), plain, 'no fleet location: the same message');
});
