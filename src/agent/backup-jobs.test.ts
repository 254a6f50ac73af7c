import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalBackend } from '../backup/backend/local.js';
import { walkTree } from '../backup/listing.js';
import { Repository } from '../backup/repository.js';
import { systemClock } from '../core/clock.js';
import { BulwarkError } from '../core/errors.js';
import type { PolicyItem } from '../protocol/backup.js';
import { drillJob, restoreJob, restoreTargetProblem, runBackupJob, verifyRestoredFile, withLockRetry } from './backup-jobs.js';

describe('backup jobs on a local repository', () => {
  let dir: string;
  let data: string;
  let dataDir: string;
  let item: PolicyItem;
  const big = randomBytes(2 * 1024 * 1024 + 12345);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bulwark-backup-jobs-'));
    data = join(dir, 'data');
    dataDir = join(dir, 'agent');
    await mkdir(join(data, 'd'), { recursive: true });
    await mkdir(dataDir, { mode: 0o700 });
    await writeFile(join(data, 'a.txt'), 'alpha\n');
    await writeFile(join(data, 'd', 'big.bin'), big);
    await writeFile(join(data, 'd', 'empty'), '');
    item = {
      name: 'p',
      version: 1,
      paths: [data],
      excludes: ['*.skip'],
      tags: ['t'],
      schedule: '0 * * * *',
      repo: join(dir, 'repo'),
      credential: { kind: 'key-file', keyFile: randomBytes(48).toString('base64') },
      retention: { last: 1 },
      prune: true,
      drillSample: 100,
    };
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('the first run creates the repository; retention forgets this host only, then prune runs', async () => {
    const first = await runBackupJob(item, 'host-a');
    assert.equal(first.state, 'succeeded', JSON.stringify(first));
    assert.match(first.notes[0] ?? '', /created the repository/);
    assert.equal(first.stats?.totalFiles, 3);
    assert.equal(first.forgotten, 0);
    assert.equal(first.pruned, undefined, 'nothing forgotten, nothing to prune');
    const other = await runBackupJob({ ...item, retention: undefined }, 'host-b');
    assert.equal(other.state, 'succeeded');
    await writeFile(join(data, 'a.txt'), 'beta\n');
    const second = await runBackupJob(item, 'host-a');
    assert.equal(second.state, 'succeeded');
    assert.deepEqual(second.notes, [], 'opened, not created');
    assert.equal(second.forgotten, 1);
    assert.equal(second.pruned, true);
    assert.equal(second.stats?.filesChanged, 1);
    const repo = await Repository.open(new LocalBackend(item.repo), { kind: 'key-file', bytes: Buffer.from(item.credential.kind === 'key-file' ? item.credential.keyFile : '', 'base64') });
    try {
      const hosts = (await repo.listSnapshots()).map((s) => s.host).sort();
      assert.deepEqual(hosts, ['host-a', 'host-b'], "host-b's snapshot is not this node's to forget");
    } finally {
      repo.close();
    }
  });

  test("the agent's data directory is never backed up, even when a policy's paths contain it", async () => {
    const agentDir = join(data, 'agent-data');
    await mkdir(agentDir, { recursive: true });
    await writeFile(join(agentDir, 'node.key'), 'NODE-KEY');
    const run = await runBackupJob({ ...item, repo: join(dir, 'repo-datadir'), retention: undefined }, 'host-k', agentDir);
    assert.equal(run.state, 'succeeded', JSON.stringify(run));
    const repo = await Repository.open(new LocalBackend(join(dir, 'repo-datadir')), { kind: 'key-file', bytes: Buffer.from(item.credential.kind === 'key-file' ? item.credential.keyFile : '', 'base64') });
    try {
      await repo.loadIndex();
      const snap = (await repo.listSnapshots())[0];
      assert.ok(snap);
      const paths: string[] = [];
      for await (const { path } of walkTree(repo, snap.tree)) paths.push(path);
      assert.ok(paths.some((p) => p.endsWith('/a.txt')), 'the rest is there');
      assert.ok(!paths.some((p) => p.includes('agent-data')), `the data directory is left out: ${paths.join(' ')}`);
    } finally {
      repo.close();
      await rm(agentDir, { recursive: true, force: true });
    }
  });

  test('a run fails with the engine error: wrong credential, missing path', async () => {
    const wrong = await runBackupJob({ ...item, credential: { kind: 'password', password: 'not the key file' } }, 'host-a');
    assert.equal(wrong.state, 'failed');
    assert.equal(wrong.error?.code, 'BACKUP_KEY_WRONG');
    assert.ok(!wrong.error?.message.includes('not the key file'), 'the credential never appears in an error');
    const missing = await runBackupJob({ ...item, paths: [join(dir, 'nope')] }, 'host-a');
    assert.equal(missing.state, 'failed');
    assert.equal(missing.error?.code, 'BAD_REQUEST');
  });

  test('restore targets: protected system locations need backup.restore_dirs; with it, only those directories', async () => {
    for (const target of ['/etc', '/etc/cron.d/x', '/usr/local', '/var', '/root/restore', '/home/ann/.ssh']) {
      assert.match((await restoreTargetProblem(target, dataDir)) ?? '', /protected system location/, target);
    }
    assert.equal(await restoreTargetProblem(join(dir, 'restore-here'), dataDir), undefined);
    assert.equal(await restoreTargetProblem('/etc/app', dataDir, ['/etc']), undefined, 'allowed by the agent');
    assert.match((await restoreTargetProblem(join(dir, 'elsewhere'), dataDir, ['/srv/restore'])) ?? '', /backup\.restore_dirs: \/srv\/restore/);
    assert.match((await restoreTargetProblem(dataDir, dataDir, ['/'])) ?? '', /inside/, 'the data directory stays refused');
  });

  test('restore targets: never /, the data directory, inside or above it, even through a link', async () => {
    assert.match((await restoreTargetProblem('/', dataDir)) ?? '', /must not be \//);
    assert.match((await restoreTargetProblem(dataDir, dataDir)) ?? '', /inside/);
    assert.match((await restoreTargetProblem(join(dataDir, 'x', 'y'), dataDir)) ?? '', /inside/);
    assert.match((await restoreTargetProblem(dir, dataDir)) ?? '', /contains/);
    const link = join(dir, 'link');
    await symlink(dataDir, link);
    assert.match((await restoreTargetProblem(join(link, 'r'), dataDir)) ?? '', /inside/);
    assert.equal(await restoreTargetProblem(join(dir, 'restore', 'new'), dataDir), undefined);
    assert.equal(await restoreTargetProblem(`${dataDir}-other`, dataDir), undefined, 'a sibling whose name starts the same is fine');
  });

  test('restore: the latest snapshot of a host, or refusals', async () => {
    const target = join(dir, 'restored');
    const result = await restoreJob(item, { host: 'host-a', snapshot: 'latest', target, include: [] }, dataDir);
    assert.equal(result.files, 3);
    assert.deepEqual(result.problems, []);
    assert.equal(await readFile(join(target, data, 'a.txt'), 'utf8'), 'beta\n');
    assert.ok((await readFile(join(target, data, 'd', 'big.bin'))).equals(big));
    await assert.rejects(restoreJob(item, { host: 'host-c', snapshot: 'latest', target: join(dir, 'r2'), include: [] }, dataDir), { code: 'NOT_FOUND' });
    await assert.rejects(restoreJob(item, { host: 'host-a', snapshot: 'latest', target: join(dataDir, 'r'), include: [] }, dataDir), { code: 'UNSAFE_PATH' });
  });

  test('a drill samples, restores into a scratch directory it removes, verifies and scales the time', async () => {
    const drill = await drillJob(item, 'host-a', 2, dataDir, systemClock);
    assert.equal(drill.filesInSnapshot, 3);
    assert.equal(drill.filesSampled, 2);
    assert.equal(drill.filesVerified, 2);
    assert.deepEqual(drill.failures, []);
    assert.equal(drill.totalBytes, big.length + 'beta\n'.length);
    if (drill.sampleBytes > 0) assert.equal(drill.estimatedRtoMs, Math.round((drill.restoreMs * drill.totalBytes) / drill.sampleBytes));
    else assert.equal(drill.estimatedRtoMs, null);
    assert.ok(drill.rpoMs >= 0);
    const all = await drillJob(item, 'host-a', 100, dataDir, systemClock);
    assert.equal(all.filesSampled, 3, 'all files when there are fewer than the sample');
    assert.equal(all.sampleBytes, all.totalBytes);
    assert.deepEqual((await readdir(dataDir)).filter((n) => n.startsWith('drill-')), [], 'scratch directories are removed');
    await assert.rejects(drillJob(item, 'host-c', 5, dataDir, systemClock), { code: 'NOT_FOUND' });
  });

  test('verification notices a changed byte, a short file, a missing one', async () => {
    const target = join(dir, 'verify');
    await restoreJob(item, { host: 'host-a', snapshot: 'latest', target, include: [join(data, 'd')] }, dataDir);
    const repo = await Repository.open(new LocalBackend(item.repo), { kind: 'key-file', bytes: Buffer.from(item.credential.kind === 'key-file' ? item.credential.keyFile : '', 'base64') });
    try {
      await repo.loadIndex();
      const latest = (await repo.listSnapshots()).filter((s) => s.host === 'host-a').at(-1);
      assert.ok(latest);
      const nodes = new Map<string, Parameters<typeof verifyRestoredFile>[1]>();
      for await (const { path, node } of walkTree(repo, latest.tree)) nodes.set(path, node);
      const bigNode = nodes.get(join(data, 'd', 'big.bin'));
      assert.ok(bigNode && (bigNode.content?.length ?? 0) >= 2, 'the big file spans several chunks');
      const path = join(target, data, 'd', 'big.bin');
      assert.equal(await verifyRestoredFile(path, bigNode, repo.keys), undefined);
      assert.equal(await verifyRestoredFile(join(target, data, 'd', 'empty'), nodes.get(join(data, 'd', 'empty')) ?? bigNode, repo.keys), undefined, 'an empty file has no chunks');
      const changed = Buffer.from(big);
      changed[changed.length - 10] = (changed[changed.length - 10] ?? 0) ^ 1;
      await writeFile(path, changed);
      assert.match((await verifyRestoredFile(path, bigNode, repo.keys)) ?? '', /content differs from the snapshot at chunk \d+ of \d+/);
      await truncate(path, 100);
      assert.match((await verifyRestoredFile(path, bigNode, repo.keys)) ?? '', /restored with 100 bytes/);
      assert.equal(await verifyRestoredFile(join(target, 'nothing'), bigNode, repo.keys), 'not restored');
      assert.equal(await verifyRestoredFile(target, bigNode, repo.keys), 'not restored as a regular file');
    } finally {
      repo.close();
    }
  });
});

test('withLockRetry waits out a locked repository, and only that', async () => {
  let calls = 0;
  const value = await withLockRetry(async () => {
    calls += 1;
    if (calls < 3) throw new BulwarkError('REPOSITORY_LOCKED', 'locked');
    return 'done';
  }, [1, 1, 1]);
  assert.equal(value, 'done');
  assert.equal(calls, 3);
  calls = 0;
  await assert.rejects(
    withLockRetry(async () => {
      calls += 1;
      throw new BulwarkError('REPOSITORY_LOCKED', 'locked');
    }, [1, 1]),
    { code: 'REPOSITORY_LOCKED' },
  );
  assert.equal(calls, 3, 'one try, then one per delay');
  calls = 0;
  await assert.rejects(
    withLockRetry(async () => {
      calls += 1;
      throw new BulwarkError('STORAGE_FAILED', 'gone');
    }, [1, 1]),
    { code: 'STORAGE_FAILED' },
  );
  assert.equal(calls, 1);
});

