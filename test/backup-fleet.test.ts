/**
 * Fleet backups end to end: a real server, real agents over mutual TLS, real
 * repositories on disk, and the built CLI. Policies reach the nodes their
 * selector matches, agents back up on schedule and on demand, the server
 * keeps the recovery point of each node, restores and drills run through the
 * agents, and failures, gaps and damage raise their events.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalBackend } from '../src/backup/backend/local.js';
import { dataShard } from '../src/backup/backend/layout.js';
import { fleetNodeKey, fleetNodeLocation, fleetRootKey } from '../src/backup/fleet-keys.js';
import { walkTree } from '../src/backup/listing.js';
import { Repository } from '../src/backup/repository.js';
import type { DrillView, PolicyView, RestoreOutcome, RunNowOutcome, RunView, StatusRow } from '../src/protocol/backup.js';
import { testDatabases } from '../src/store/test-databases.js';
import { joinAgent, REPO_ROOT, startTestServer, waitFor, type ErrorJson, type TestAgent, type TestServer } from './harness.js';

/** The built CLI, as users run it (`npm test` builds before the integration tests). */
const CLI = join(REPO_ROOT, 'bin', 'bulwark.js');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[]): Promise<Run> {
  const child = spawn(command, args, { cwd: REPO_ROOT, env: { ...process.env, AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

/** `bulwark <args>` against the test server, as its admin. */
function bulwark(t: TestServer, args: string[]): Promise<Run> {
  return run(process.execPath, [CLI, ...args, '--server', t.server.apiUrl, '--data-dir', t.dataDir]);
}

function ok(r: Run, what: string): void {
  assert.equal(r.code, 0, `${what} failed (${r.code}): ${r.stderr}${r.stdout}`);
}

/** The outcome line of a long operation's NDJSON answer. */
function outcomeOf<T>(body: string): { type: 'result'; result: T } | { type: 'error'; code: string; message: string } {
  const lines = body.trim().split('\n');
  return JSON.parse(lines[lines.length - 1] ?? '{}') as { type: 'result'; result: T } | { type: 'error'; code: string; message: string };
}

async function resultOf<T>(t: TestServer, url: string, body: unknown): Promise<T> {
  const res = await t.api('POST', url, body);
  assert.equal(res.status, 200, res.body);
  const outcome = outcomeOf<T>(res.body);
  assert.equal(outcome.type, 'result', res.body);
  return (outcome as { result: T }).result;
}

async function statusRow(t: TestServer, node: string, policy: string): Promise<StatusRow | undefined> {
  const res = await t.api<{ rows: StatusRow[] }>('GET', `/v1/backups/status?policy=${policy}`);
  assert.equal(res.status, 200, res.body);
  return res.json.rows.find((r) => r.nodeName === node);
}

/** A node's own repository of a policy, opened with the key the operator derives from the policy's key file (no server). */
/** Where a node's repository of a key-file policy is, and its key, as the operator derives them (no server). */
async function nodeTarget(policy: string, policyRepo: string, keyFile: string, nodeId: string): Promise<{ path: string; key: Buffer }> {
  const root = await fleetRootKey({ kind: 'key-file', bytes: await readFile(keyFile) }, policy);
  return { path: fleetNodeLocation(policyRepo, root, nodeId), key: fleetNodeKey(root, nodeId) };
}

async function openNodeRepo(policyRepo: string, keyFile: string, nodeId: string): Promise<Repository> {
  const { path, key } = await nodeTarget('db', policyRepo, keyFile, nodeId);
  return Repository.open(new LocalBackend(path), { kind: 'key-file', bytes: key });
}

describe('fleet backups', () => {
  let t: TestServer;
  let db1: TestAgent;
  let db2: TestAgent;
  let web1: TestAgent;
  let work: string;
  let data: string;
  let repo: string;
  let keyFile: string;
  const bigFile = randomBytes(3 * 1024 * 1024);

  before(async () => {
    t = await startTestServer({ backupSweepMs: 200 });
    db1 = await joinAgent(t, { labels: { role: 'db' }, hostname: 'db-1' });
    db2 = await joinAgent(t, { labels: { role: 'db' }, hostname: 'db-2' });
    web1 = await joinAgent(t, { labels: { role: 'web' }, hostname: 'web-1' });
    work = await mkdtemp(join(tmpdir(), 'bulwark-it-fleet-backup-'));
    data = join(work, 'data');
    repo = join(work, 'repos', 'db');
    keyFile = join(work, 'db.key');
    await mkdir(join(data, 'sub'), { recursive: true });
    await writeFile(join(data, 'app.conf'), 'version=A\n');
    await writeFile(join(data, 'sub', 'big.bin'), bigFile);
    await writeFile(join(data, 'sub', 'small.txt'), 'hello\n');
    await writeFile(keyFile, randomBytes(64), { mode: 0o600 });
  });

  after(async () => {
    for (const a of [db1, db2, web1]) await a?.close();
    await t?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('policy set refuses bad input with the flag that is wrong', async () => {
    const base = ['backup', 'policy', 'set', 'bad', '--selector', 'role=db', '--schedule', '0 * * * *', '--repo', repo, '--key-file', keyFile];
    const relativePath = await bulwark(t, [...base, '--paths', 'var/lib']);
    assert.equal(relativePath.code, 2, relativePath.stderr);
    assert.match(relativePath.stderr, /--paths "var\/lib" must be an absolute path/);
    const cron = await bulwark(t, ['backup', 'policy', 'set', 'bad', '--selector', 'role=db', '--paths', data, '--schedule', 'every hour', '--repo', repo, '--key-file', keyFile]);
    assert.equal(cron.code, 2, cron.stderr);
    assert.match(cron.stderr, /--schedule "every hour" is not a cron expression/);
    const relativeRepo = await bulwark(t, ['backup', 'policy', 'set', 'bad', '--selector', 'role=db', '--paths', data, '--schedule', '0 * * * *', '--repo', 'repos/db', '--key-file', keyFile]);
    assert.equal(relativeRepo.code, 2, relativeRepo.stderr);
    assert.match(relativeRepo.stderr, /must be an absolute path/);
    const noCredential = await bulwark(t, ['backup', 'policy', 'set', 'bad', '--selector', 'role=db', '--paths', data, '--schedule', '0 * * * *', '--repo', repo]);
    assert.equal(noCredential.code, 2, noCredential.stderr);
    assert.match(noCredential.stderr, /give the repository credential/);
    const shortPassword = join(work, 'short.pass');
    await writeFile(shortPassword, 'short\n');
    const weak = await bulwark(t, [...base, '--paths', data, '--password-file', shortPassword].filter((a) => a !== '--key-file' && a !== keyFile));
    assert.equal(weak.code, 2, weak.stderr);
    assert.match(weak.stderr, /at least 8 characters/);
    const emptySelector = await t.api<ErrorJson>('PUT', '/v1/backups/policies/bad', { selector: ' ', paths: [data], schedule: '0 * * * *', repo, credential: { kind: 'password', password: 'long enough' } });
    assert.equal(emptySelector.status, 400);
    assert.equal(emptySelector.json.error.code, 'INVALID_SELECTOR');
    const keysOnLocal = await bulwark(t, [...base, '--paths', data, '--s3-keys-from-env']);
    assert.equal(keysOnLocal.code, 2, keysOnLocal.stderr);
    assert.match(keysOnLocal.stderr, /S3 access keys only apply to an s3:\/\/ repository/);
    assert.equal((await t.api('GET', '/v1/backups/policies/bad')).status, 404, 'nothing was stored');
    // S3 keys are stored only when asked for, from a file (never quoted back), and kept by an update that leaves them out.
    const s3Keys = join(work, 's3.env');
    await writeFile(s3Keys, 'AWS_ACCESS_KEY_ID=AKIAFLEETTEST\nAWS_SECRET_ACCESS_KEY=fleet-s3-secret-marker\n', { mode: 0o600 });
    const s3Base = ['backup', 'policy', 'set', 's3', '--selector', 'role=none', '--paths', data, '--schedule', '0 * * * *', '--repo', 's3://bulwark-test/fleet', '--s3-endpoint', 'http://127.0.0.1:9'];
    ok(await bulwark(t, [...s3Base, '--key-file', keyFile]), 'policy set s3 without keys');
    assert.equal((await t.api<PolicyView>('GET', '/v1/backups/policies/s3')).json.credential.s3Keys, false, 'the shell\'s AWS variables are not taken unasked');
    ok(await bulwark(t, [...s3Base, '--s3-keys-file', s3Keys]), 'policy set s3 with keys');
    ok(await bulwark(t, [...s3Base, '--tag', 'x']), 'policy set s3 keeping them');
    const s3View = await t.api<PolicyView>('GET', '/v1/backups/policies/s3');
    assert.equal(s3View.json.credential.s3Keys, true);
    assert.ok(!s3View.body.includes('fleet-s3-secret-marker'));
    const badKeys = join(work, 's3-bad.env');
    await writeFile(badKeys, 'AWS_ACCESS_KEY_ID=only-one\n');
    const refusedKeys = await bulwark(t, [...s3Base, '--s3-keys-file', badKeys]);
    assert.equal(refusedKeys.code, 2);
    assert.match(refusedKeys.stderr, /must hold AWS_ACCESS_KEY_ID=… and AWS_SECRET_ACCESS_KEY=…/);
    ok(await bulwark(t, ['backup', 'policy', 'rm', 's3']), 'policy rm s3');
  });

  it('stores a policy with its credential write-only, and delivers it only to the nodes it matches', async () => {
    ok(await bulwark(t, ['backup', 'policy', 'set', 'db', '--selector', 'role=db', '--paths', data, '--schedule', '*/2 * * * * *', '--repo', repo, '--key-file', keyFile, '--keep-last', '3', '--prune', '--tag', 'fleet']), 'policy set');
    const shown = await bulwark(t, ['backup', 'policy', 'show', 'db', '--json']);
    ok(shown, 'policy show');
    const view = JSON.parse(shown.stdout) as PolicyView;
    assert.deepEqual(view.credential, { kind: 'key-file', s3Keys: false });
    assert.deepEqual(view.retention, { last: 3 });
    assert.equal(view.maxAgeSeconds, 4, 'default max age: twice the 2 s interval');
    assert.equal(view.maxAgeDefault, true);
    const secret = (await readFile(keyFile)).toString('base64');
    for (const res of [await t.api('GET', '/v1/backups/policies/db'), await t.api('GET', '/v1/backups/policies')]) {
      assert.equal(res.status, 200);
      assert.ok(!res.body.includes(secret.slice(0, 40)), 'no API answer carries the credential');
    }
    await waitFor(() => db1.agent.backupPolicies.includes('db') && db2.agent.backupPolicies.includes('db'), { message: 'the db nodes receive the policy' });
    assert.deepEqual(web1.agent.backupPolicies, [], 'a node the selector does not match gets nothing');
    const delivered = await t.api<{ entries: { action: string; actor: string; details: unknown }[] }>('GET', '/v1/audit?action=backups.deliver&limit=100');
    assert.equal(delivered.status, 200, delivered.body);
    assert.ok(delivered.json.entries.some((e) => e.actor === `node:${db1.nodeId}`), 'each delivery of the credential is audited');
    const everything = await t.api('GET', '/v1/audit?limit=1000');
    assert.ok(everything.body.includes('backups.policy_set'), 'the policy change is audited');
    assert.ok(!everything.body.includes(secret.slice(0, 40)), 'the audit log never holds the credential');
  });

  it('agents back up on schedule; status shows a fresh recovery point; the snapshots are in the repository', async () => {
    for (const node of ['db-1', 'db-2']) {
      await waitFor(async () => (await statusRow(t, node, 'db'))?.lastGoodAt ?? undefined, { message: `a good backup of ${node}`, timeoutMs: 60_000 });
    }
    const status = await bulwark(t, ['backup', 'status', '--json', '--selector', 'role=db']);
    ok(status, 'backup status');
    const list = JSON.parse(status.stdout) as { now: number; rows: StatusRow[] };
    assert.deepEqual(list.rows.map((r) => r.nodeName).sort(), ['db-1', 'db-2']);
    for (const row of list.rows) {
      assert.equal(row.policy, 'db');
      assert.ok(row.lastGoodAt !== null && list.now - row.lastGoodAt < 60_000, 'the last good backup is fresh');
      assert.ok(row.ageMs !== null && row.ageMs >= 0);
      assert.equal(row.maxAgeMs, 4000);
      assert.ok(row.nextDueAt !== null && row.nextDueAt > list.now - 1000);
    }
    const runs = await bulwark(t, ['backup', 'runs', '--node', 'db-1', '--json']);
    ok(runs, 'backup runs');
    const good = (JSON.parse(runs.stdout) as RunView[]).find((r) => r.state === 'succeeded');
    assert.ok(good, runs.stdout);
    assert.equal(good.trigger, 'schedule');
    assert.ok(good.stats && good.stats.totalFiles === 3 && good.stats.totalBytes === bigFile.length + 'version=A\n'.length + 'hello\n'.length, JSON.stringify(good.stats));
    // Each node has its own repository under the policy's location, under its own key.
    for (const node of [db1, db2]) {
      const r = await openNodeRepo(repo, keyFile, node.nodeId);
      try {
        const snapshots = await r.listSnapshots();
        assert.ok(snapshots.length > 0);
        if (node === db1) assert.ok(snapshots.some((s) => s.id === good.snapshotId));
        for (const s of snapshots) {
          assert.equal(s.host, node.nodeId, 'only its own snapshots');
          assert.deepEqual(s.paths, [data]);
          assert.deepEqual(s.tags, ['fleet']);
        }
      } finally {
        r.close();
      }
    }
    const one = await nodeTarget('db', repo, keyFile, db1.nodeId);
    const two = await nodeTarget('db', repo, keyFile, db2.nodeId);
    assert.ok(one.path.startsWith(join(repo, db1.nodeId) + '/'));
    await assert.rejects(Repository.open(new LocalBackend(two.path), { kind: 'key-file', bytes: one.key }), { code: 'BACKUP_KEY_WRONG' }, "db-1's key does not open db-2's repository");
    await assert.rejects(Repository.open(new LocalBackend(one.path), { kind: 'key-file', bytes: await readFile(keyFile) }), { code: 'BACKUP_KEY_WRONG' }, 'the policy key itself is no key of a node repository');
    // The operator's recovery path: the stand-alone CLI, the policy's location and key file, the node's id.
    const listed = await run(process.execPath, [CLI, 'backup', 'snapshots', '--repo', repo, '--key-file', keyFile, '--fleet-policy', 'db', '--fleet-node', db2.nodeId, '--json']);
    ok(listed, 'backup snapshots --fleet-node');
    const db2Snapshots = JSON.parse(listed.stdout) as { host: string }[];
    assert.ok(db2Snapshots.length > 0 && db2Snapshots.every((x) => x.host === db2.nodeId), listed.stdout);
    const badNode = await run(process.execPath, [CLI, 'backup', 'snapshots', '--repo', repo, '--key-file', keyFile, '--fleet-policy', 'db', '--fleet-node', '../x']);
    assert.equal(badNode.code, 2, badNode.stderr);
    assert.match(badNode.stderr, /is not a node id/);
    const noPolicy = await run(process.execPath, [CLI, 'backup', 'snapshots', '--repo', repo, '--key-file', keyFile, '--fleet-node', db2.nodeId]);
    assert.equal(noPolicy.code, 2, noPolicy.stderr);
    assert.match(noPolicy.stderr, /--fleet-node and --fleet-policy go together/);
    const wrongPolicy = await run(process.execPath, [CLI, 'backup', 'snapshots', '--repo', repo, '--key-file', keyFile, '--fleet-policy', 'web', '--fleet-node', db2.nodeId]);
    assert.equal(wrongPolicy.code, 4, `another policy name derives another repository, which is not there: ${wrongPolicy.stderr}`);
    assert.match(wrongPolicy.stderr, /no repository of node node_\w+ for policy "web" with this password or key file .*check --fleet-policy and the credential/);
    // Retention: each node keeps its newest three (forget runs per host after each backup).
    await waitFor(
      async () => {
        const rr = await openNodeRepo(repo, keyFile, db1.nodeId);
        try {
          const mine = await rr.listSnapshots();
          return mine.length === 3 && (await t.api<{ runs: RunView[] }>('GET', '/v1/backups/runs?node=db-1')).json.runs.some((x) => (x.forgotten ?? 0) > 0);
        } finally {
          rr.close();
        }
      },
      { message: 'retention forgets down to three snapshots of db-1', timeoutMs: 60_000 },
    );
  });

  it('an update without a credential keeps it; a slower schedule stops the runs', async () => {
    ok(await bulwark(t, ['backup', 'policy', 'set', 'db', '--selector', 'role=db', '--paths', data, '--schedule', '0 0 1 1 *', '--repo', repo, '--max-age', '1h']), 'policy update');
    const view = (await t.api<PolicyView>('GET', '/v1/backups/policies/db')).json;
    assert.equal(view.version, 2);
    assert.equal(view.credential.kind, 'key-file');
    assert.equal(view.retention, null, 'no --keep-*: no forget');
    assert.equal(view.maxAgeSeconds, 3600);
    // Within a heartbeat the nodes hold the new schedule: no scheduled run starts after that.
    const updated = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 4000));
    const late = (await t.api<{ runs: RunView[] }>('GET', '/v1/backups/runs?policy=db&limit=1000')).json.runs.filter((x) => x.trigger === 'schedule' && x.startedAt > updated + 1500);
    assert.deepEqual(late, []);
    // On demand, with the kept credential: one node, then the other with other data.
    const one = await bulwark(t, ['backup', 'policy', 'run', 'db', '--node', 'db-1', '--json']);
    ok(one, 'policy run');
    const outcome = JSON.parse(one.stdout) as RunNowOutcome;
    assert.equal(outcome.nodes.length, 1);
    assert.equal(outcome.nodes[0]?.run?.state, 'succeeded');
    assert.equal(outcome.nodes[0]?.run?.trigger, 'manual');
    await writeFile(join(data, 'app.conf'), 'version=B\n');
    const other = await resultOf<RunNowOutcome>(t, '/v1/backups/policies/db/run', { node: 'db-2' });
    assert.equal(other.nodes[0]?.run?.state, 'succeeded', JSON.stringify(other));
  });

  it('restore --node restores the bytes through the agent, of the node itself or another', async () => {
    const target = join(work, 'restore-1');
    const script = `import { restoreOnNode } from ${JSON.stringify(join(REPO_ROOT, 'src/cli/commands/backup-fleet.ts'))};
await restoreOnNode('latest', { node: 'db-1', target: ${JSON.stringify(target)}, include: [], server: ${JSON.stringify(t.server.apiUrl)}, dataDir: ${JSON.stringify(t.dataDir)} });`;
    const cli = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script]);
    ok(cli, 'restoreOnNode');
    assert.match(cli.stdout, /restored 3 files .* into .*restore-1 on db-1/);
    assert.equal(await readFile(join(target, data, 'app.conf'), 'utf8'), 'version=A\n', "db-1's latest snapshot");
    assert.ok((await readFile(join(target, data, 'sub', 'big.bin'))).equals(bigFile));

    const fromOther = join(work, 'restore-2');
    const restored = await resultOf<RestoreOutcome>(t, '/v1/backups/restore', { node: 'db-1', fromNode: 'db-2', target: fromOther, include: [join(data, 'app.conf')] });
    assert.equal(restored.host, db2.nodeId);
    assert.equal(restored.files, 1);
    assert.equal(restored.problemCount, 0);
    assert.equal(await readFile(join(fromOther, data, 'app.conf'), 'utf8'), 'version=B\n', "db-2's snapshot, restored on db-1");
    await assert.rejects(readFile(join(fromOther, data, 'sub', 'small.txt')), 'only the included path');
    // Handing db-2's key to db-1 is audited; a restore of a node's own snapshots hands over nothing.
    const started = (await t.api<{ entries: { resource: string; details: Record<string, unknown> }[] }>('GET', '/v1/audit?action=backups.restore&limit=100')).json.entries.filter((e) => e.resource.startsWith('/v1/nodes/') && e.details.phase === 'started');
    assert.deepEqual(
      started.map((e) => [e.details.host, e.details.crossNode ?? false]).sort(),
      [
        [db1.nodeId, false],
        [db2.nodeId, true],
      ].sort(),
    );

    for (const [target, why] of [
      ['/', /must not be \/ itself/],
      [join(db1.dataDir, 'restore'), /inside the agent's data directory/],
    ] as const) {
      const res = await t.api('POST', '/v1/backups/restore', { node: 'db-1', target });
      assert.equal(res.status, 200);
      const refused = outcomeOf(res.body);
      assert.equal(refused.type, 'error', res.body);
      assert.equal((refused as { code: string }).code, 'UNSAFE_PATH');
      assert.match((refused as { message: string }).message, why);
    }
    const unknownSnapshot = outcomeOf((await t.api('POST', '/v1/backups/restore', { node: 'db-1', snapshot: 'abcdef01', target: join(work, 'restore-3') })).body);
    assert.equal((unknownSnapshot as { code: string }).code, 'NOT_FOUND');
    const notCovered = await t.api<ErrorJson>('POST', '/v1/backups/restore', { node: 'web-1', target: join(work, 'restore-4') });
    assert.equal(notCovered.status, 404);
    assert.match(notCovered.json.error.message, /no backup policy covers node web-1/);
  });

  it('a failing run raises backup.failed with its error: unwritable repository, wrong password', async () => {
    const blocker = join(work, 'not-a-dir');
    await writeFile(blocker, 'x');
    const passFile = join(work, 'web.pass');
    await writeFile(passFile, 'correct horse battery\n');
    ok(await bulwark(t, ['backup', 'policy', 'set', 'broken', '--selector', 'role=web', '--paths', data, '--schedule', '0 0 1 1 *', '--repo', join(blocker, 'repo'), '--password-file', passFile]), 'policy set broken');
    const after = await t.lastEventId();
    const failed = await bulwark(t, ['backup', 'policy', 'run', 'broken', '--node', 'web-1']);
    assert.equal(failed.code, 1, failed.stderr + failed.stdout);
    assert.match(failed.stdout, /web-1: failed \(STORAGE_FAILED/);
    const event = await t.waitForEvent('backup.failed', { nodeId: web1.nodeId, afterId: after });
    assert.equal(event.details.policy, 'broken');
    assert.equal(event.details.errorCode, 'STORAGE_FAILED');
    const row = await statusRow(t, 'web-1', 'broken');
    assert.equal(row?.lastRunState, 'failed');
    assert.equal(row?.lastError?.code, 'STORAGE_FAILED');
    assert.equal(row?.lastGoodAt, null);

    // A repository where web-1's of the next policy belongs, but under another key (replaced by someone, say): the run fails.
    const taken = await fleetRootKey({ kind: 'password', password: 'correct horse battery' }, 'broken');
    const squatted = await Repository.init(new LocalBackend(fleetNodeLocation(repo, taken, web1.nodeId)), { kind: 'key-file', bytes: randomBytes(32) });
    squatted.close();
    const initFleet = await run(process.execPath, [CLI, 'backup', 'init', '--repo', repo, '--key-file', keyFile, '--fleet-node', web1.nodeId]);
    assert.equal(initFleet.code, 2, 'init takes no --fleet-node: agents make their repositories with the key the server sends');
    assert.match(initFleet.stderr, /unknown option '--fleet-node'/);
    ok(await bulwark(t, ['backup', 'policy', 'set', 'broken', '--selector', 'role=web', '--paths', data, '--schedule', '0 0 1 1 *', '--repo', repo, '--password-file', passFile]), 'policy set wrong password');
    const mark = await t.lastEventId();
    const wrong = await resultOf<RunNowOutcome>(t, '/v1/backups/policies/broken/run', {});
    assert.equal(wrong.nodes[0]?.run?.error?.code, 'BACKUP_KEY_WRONG');
    assert.equal((await t.waitForEvent('backup.failed', { nodeId: web1.nodeId, afterId: mark })).details.errorCode, 'BACKUP_KEY_WRONG');
    const rm = await bulwark(t, ['backup', 'policy', 'rm', 'broken']);
    ok(rm, 'policy rm');
    await waitFor(() => !web1.agent.backupPolicies.includes('broken'), { message: 'the node drops a removed policy' });
  });

  it('a node without a good backup within max-age raises backup.missed once; a good run clears it', async () => {
    const passFile = join(work, 'rare.pass');
    await writeFile(passFile, 'another long password\n');
    const rareRepo = join(work, 'repos', 'rare');
    const mark = await t.lastEventId();
    ok(await bulwark(t, ['backup', 'policy', 'set', 'rare', '--selector', 'role=web', '--paths', join(data, 'sub'), '--schedule', '0 0 1 1 *', '--repo', rareRepo, '--password-file', passFile, '--max-age', '1s']), 'policy set rare');
    const missed = await t.waitForEvent('backup.missed', { nodeId: web1.nodeId, afterId: mark });
    assert.equal(missed.details.policy, 'rare');
    assert.equal(missed.details.lastGoodAt, null);
    assert.equal((await statusRow(t, 'web-1', 'rare'))?.overdue, true);
    // Several sweeps later, still raised once for this gap.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal((await t.events({ type: 'backup.missed', nodeId: web1.nodeId, afterId: mark })).length, 1);

    const good = await resultOf<RunNowOutcome>(t, '/v1/backups/policies/rare/run', { node: 'web-1' });
    assert.equal(good.nodes[0]?.run?.state, 'succeeded', JSON.stringify(good));
    assert.ok(good.nodes[0]?.run?.notes.some((n) => /created the repository/.test(n)), 'the first run creates the repository');
    const recovered = await t.waitForEvent('backup.recovered', { nodeId: web1.nodeId, afterId: mark });
    assert.equal(recovered.details.policy, 'rare');

    // A drill schedule on the policy: the agent drills by itself and reports it.
    ok(await bulwark(t, ['backup', 'policy', 'set', 'rare', '--selector', 'role=web', '--paths', join(data, 'sub'), '--schedule', '0 0 1 1 *', '--repo', rareRepo, '--max-age', '1h', '--drill-schedule', '*/1 * * * * *', '--drill-sample', '5']), 'policy set drill schedule');
    const drilled = await waitFor(async () => (await t.api<{ drills: DrillView[] }>('GET', '/v1/backups/drills?node=web-1&policy=rare')).json.drills.find((d) => d.trigger === 'schedule'), { message: 'a scheduled drill', timeoutMs: 30_000 });
    assert.equal(drilled.state, 'succeeded', JSON.stringify(drilled));
    assert.equal(drilled.filesSampled, 2);
    ok(await bulwark(t, ['backup', 'policy', 'rm', 'rare']), 'policy rm rare');
  });

  it('drill --node restores a sample, verifies it and reports RTO and RPO', async () => {
    const mark = await t.lastEventId();
    const res = await bulwark(t, ['drill', '--node', 'db-1', '--json']);
    ok(res, 'drill');
    const drill = JSON.parse(res.stdout) as DrillView;
    assert.equal(drill.state, 'succeeded');
    assert.equal(drill.nodeName, 'db-1');
    assert.equal(drill.policy, 'db');
    assert.equal(drill.requestedBy !== null, true);
    assert.equal(drill.filesInSnapshot, 3);
    assert.equal(drill.filesSampled, 3, 'all files when there are fewer than the sample');
    assert.equal(drill.filesVerified, 3);
    assert.equal(drill.filesFailed, 0);
    assert.equal(drill.sampleBytes, drill.totalBytes);
    assert.ok(drill.estimatedRtoMs !== null && drill.estimatedRtoMs >= 0);
    assert.ok(drill.rpoMs !== null && drill.rpoMs >= 0 && drill.rpoMs < 10 * 60_000);
    assert.ok(drill.snapshotId !== null);
    const event = await t.waitForEvent('drill.completed', { nodeId: db1.nodeId, afterId: mark });
    assert.equal(event.details.drillId, drill.id);
    const ls = await bulwark(t, ['drill', 'ls', '--node', 'db-1', '--json']);
    ok(ls, 'drill ls');
    assert.ok((JSON.parse(ls.stdout) as DrillView[]).some((d) => d.id === drill.id));
    const text = await bulwark(t, ['drill', 'ls', '--node', 'db-1']);
    assert.match(text.stdout, /VERIFIED\/SAMPLED/);
  });

  it('a flipped byte in a pack makes the drill fail, naming the damaged file, and raises drill.failed', async () => {
    const r = await openNodeRepo(repo, keyFile, db1.nodeId);
    let pack: string;
    let offset: number;
    try {
      await r.loadIndex();
      const latest = (await r.listSnapshots()).at(-1);
      assert.ok(latest);
      let big: string | undefined;
      for await (const { path, node } of walkTree(r, latest.tree)) if (path.endsWith('/big.bin')) big = node.content?.[0];
      assert.ok(big);
      const loc = r.locate(Buffer.from(big, 'hex'));
      assert.ok(loc);
      pack = loc.pack;
      offset = loc.offset + 100;
    } finally {
      r.close();
    }
    const file = await open(join((await nodeTarget('db', repo, keyFile, db1.nodeId)).path, 'data', dataShard(pack), pack), 'r+');
    try {
      const byte = Buffer.alloc(1);
      await file.read(byte, 0, 1, offset);
      byte[0] = (byte[0] ?? 0) ^ 0xff;
      await file.write(byte, 0, 1, offset);
    } finally {
      await file.close();
    }
    const mark = await t.lastEventId();
    const res = await bulwark(t, ['drill', '--node', 'db-1', '--json']);
    assert.equal(res.code, 10, res.stderr);
    assert.match(res.stderr, /1 of 3 files did not come back/);
    const drill = JSON.parse(res.stdout) as DrillView;
    assert.equal(drill.state, 'failed');
    assert.equal(drill.filesFailed, 1);
    assert.equal(drill.filesVerified, 2);
    assert.equal(drill.failures[0]?.path, join(data, 'sub', 'big.bin'));
    const event = await t.waitForEvent('drill.failed', { nodeId: db1.nodeId, afterId: mark });
    assert.deepEqual(event.details.failures, [join(data, 'sub', 'big.bin')]);
  });

  it('a new credential: each node starts a new repository under a new key; the old one still opens with the old credential', async () => {
    const before = await nodeTarget('db', repo, keyFile, db1.nodeId);
    const newKeyFile = join(work, 'db-rotated.key');
    await writeFile(newKeyFile, randomBytes(64), { mode: 0o600 });
    ok(await bulwark(t, ['backup', 'policy', 'set', 'db', '--selector', 'role=db', '--paths', data, '--schedule', '0 0 1 1 *', '--repo', repo, '--key-file', newKeyFile, '--max-age', '1h']), 'policy set with a new key file');
    // Until the node holds the new version, a run still lands in the old repository; the first under the new key creates its own.
    const created = await waitFor(
      async () => {
        const out = await resultOf<RunNowOutcome>(t, '/v1/backups/policies/db/run', { node: 'db-1' });
        const run = out.nodes[0]?.run;
        assert.ok(run?.state === 'succeeded', JSON.stringify(out));
        return run.notes.some((n) => /created the repository/.test(n)) ? run : undefined;
      },
      { message: 'a run under the new key', timeoutMs: 30_000 },
    );
    const after = await nodeTarget('db', repo, newKeyFile, db1.nodeId);
    assert.notEqual(after.path, before.path, 'a new epoch');
    assert.ok(after.path.startsWith(join(repo, db1.nodeId) + '/'), 'under the same node directory');
    const fresh = await Repository.open(new LocalBackend(after.path), { kind: 'key-file', bytes: after.key });
    try {
      assert.deepEqual((await fresh.listSnapshots()).map((x) => x.id), [created.snapshotId]);
    } finally {
      fresh.close();
    }
    await assert.rejects(Repository.open(new LocalBackend(after.path), { kind: 'key-file', bytes: before.key }), { code: 'BACKUP_KEY_WRONG' }, 'the old node key opens nothing new');
    const old = await Repository.open(new LocalBackend(before.path), { kind: 'key-file', bytes: before.key });
    try {
      assert.ok((await old.listSnapshots()).length > 0, 'the history under the old credential is still there');
    } finally {
      old.close();
    }
  });

  it('an agent that is not connected cannot restore or drill: NOT_CONNECTED', async () => {
    await db2.stop();
    await waitFor(() => !t.server.gateway.isConnected(db2.nodeId), { message: 'db-2 disconnects' });
    for (const [url, body] of [
      ['/v1/backups/restore', { node: 'db-2', target: join(work, 'restore-5') }],
      ['/v1/backups/drills', { node: 'db-2' }],
    ] as const) {
      const res = await t.api<ErrorJson>('POST', url, body);
      assert.equal(res.status, 503, res.body);
      assert.equal(res.json.error.code, 'NOT_CONNECTED');
    }
    const runNow = await resultOf<RunNowOutcome>(t, '/v1/backups/policies/db/run', {});
    assert.deepEqual(
      runNow.nodes.map((n) => [n.nodeName, n.error?.code ?? n.run?.state]),
      [
        ['db-1', 'succeeded'],
        ['db-2', 'NOT_CONNECTED'],
      ],
    );
  });
});

describe('fleet backups with a built agent process', () => {
  let t: TestServer;
  let work: string;
  let agent: ReturnType<typeof spawn> | undefined;
  let output = '';

  before(async () => {
    t = await startTestServer();
    work = await mkdtemp(join(tmpdir(), 'bulwark-it-fleet-backup-proc-'));
    await mkdir(join(work, 'data'));
    await writeFile(join(work, 'data', 'f.bin'), randomBytes(700 * 1024));
  });

  after(async () => {
    // A process killed by a signal keeps exitCode null: it has exited all the same.
    if (agent && agent.exitCode === null && agent.signalCode === null) {
      const exited = new Promise((resolve) => agent?.once('exit', resolve));
      agent.kill('SIGCONT');
      agent.kill('SIGTERM');
      await exited;
    }
    await t?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('backs up, drills and restores with the bundled agent and its worker threads', async () => {
    const token = await t.createJoinToken({ labels: { role: 'proc' } });
    const dataDir = join(work, 'agent');
    const root = join(work, 'root');
    await mkdir(join(root, 'proc', 'sys', 'kernel'), { recursive: true });
    await writeFile(join(root, 'proc', 'sys', 'kernel', 'hostname'), 'proc-1\n');
    agent = spawn(process.execPath, [CLI, 'agent', 'up', '--data-dir', dataDir, '--server', t.server.agentUrl, '--token', token.token, '--ca-pin', token.caPin, '--hostname', 'proc-1', '--root', root, '--heartbeat-interval', '200ms'], { stdio: ['ignore', 'pipe', 'pipe'] });
    agent.stdout?.on('data', (c: Buffer) => (output += c.toString()));
    agent.stderr?.on('data', (c: Buffer) => (output += c.toString()));
    const node = await waitFor(async () => (await t.api<{ nodes: { id: string; name: string; connected: boolean }[] }>('GET', '/v1/nodes')).json.nodes.find((n) => n.name === 'proc-1' && n.connected), { message: 'the agent process connects', timeoutMs: 60_000 }).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}\n${output}`);
    });
    const keyFile = randomBytes(40);
    const set = await t.api('PUT', '/v1/backups/policies/proc', { selector: 'role=proc', paths: [join(work, 'data')], schedule: '0 0 1 1 *', repo: join(work, 'repo'), credential: { kind: 'key-file', keyFile: keyFile.toString('base64') } });
    assert.equal(set.status, 201, set.body);
    const ran = await resultOf<RunNowOutcome>(t, '/v1/backups/policies/proc/run', { node: node.id });
    assert.equal(ran.nodes[0]?.run?.state, 'succeeded', `${JSON.stringify(ran)}\n${output}`);
    const drill = await resultOf<DrillView>(t, '/v1/backups/drills', { node: 'proc-1' });
    assert.equal(drill.state, 'succeeded', JSON.stringify(drill));
    assert.equal(drill.filesVerified, 1);
    const restored = await resultOf<RestoreOutcome>(t, '/v1/backups/restore', { node: 'proc-1', target: join(work, 'restored') });
    assert.equal(restored.files, 1);
    assert.ok((await readFile(join(work, 'restored', work, 'data', 'f.bin'))).equals(await readFile(join(work, 'data', 'f.bin'))));
    const nodeKey = fleetNodeKey(await fleetRootKey({ kind: 'key-file', bytes: keyFile }, 'proc'), node.id);
    assert.ok(!output.includes(keyFile.toString('base64')) && !output.includes(nodeKey.toString('base64')), 'neither the credential nor the node key reaches the agent log');
  });

  it('one caller may have at most 8 restores, drills and runs waiting; the slots come back when they end', async () => {
    // The service's own entry (on the node), written once the caller's slot is taken; the request's entry names the route.
    const drillsAudited = async (): Promise<number> =>
      (await t.api<{ entries: { resource: string }[] }>('GET', '/v1/audit?action=backups.drill&limit=1000')).json.entries.filter((e) => e.resource.startsWith('/v1/nodes/')).length;
    const before = await drillsAudited();
    // A stopped agent answers nothing: every request to it waits.
    assert.ok(agent?.kill('SIGSTOP'));
    const waiting = Array.from({ length: 5 }, () => t.api('POST', '/v1/backups/drills', { node: 'proc-1' }));
    await waitFor(async () => (await drillsAudited()) >= before + 5 || undefined, { message: 'five drills started' });
    // Runs not waited for answer at once, but hold their slot until the node answers.
    for (let i = 0; i < 3; i++) {
      const started = await t.api('POST', '/v1/backups/policies/proc/run', { node: 'proc-1', wait: false });
      assert.equal(started.status, 200, started.body);
      assert.equal(outcomeOf<RunNowOutcome>(started.body).type, 'result');
    }
    const ninth = await t.api<ErrorJson>('POST', '/v1/backups/restore', { node: 'proc-1', target: join(work, 'restored-9') });
    assert.equal(ninth.status, 429, ninth.body);
    assert.equal(ninth.json.error.code, 'RATE_LIMITED');
    assert.match(ninth.json.error.message, /8 restores, drills and backup runs in flight/);
    const exited = new Promise((resolve) => agent?.once('exit', resolve));
    agent?.kill('SIGKILL');
    await exited;
    for (const res of await Promise.all(waiting)) {
      assert.equal(res.status, 200);
      assert.equal((outcomeOf(res.body) as { code?: string }).code, 'DISCONNECTED', res.body);
    }
    const after = await t.api<ErrorJson>('POST', '/v1/backups/drills', { node: 'proc-1' });
    assert.equal(after.json.error.code, 'NOT_CONNECTED', `the slots are free again: refused for the node, not the caller (${after.body})`);
  });
});

for (const database of testDatabases().filter((d) => d.kind === 'postgres')) {
  describe(`fleet backup records on ${database.name}`, () => {
    let t: TestServer;
    let agent: TestAgent;
    let work: string;

    before(async () => {
      t = await startTestServer({ database });
      agent = await joinAgent(t, { labels: { role: 'pg' }, hostname: 'pg-1' });
      work = await mkdtemp(join(tmpdir(), 'bulwark-it-fleet-backup-pg-'));
      await writeFile(join(work, 'file.txt'), 'on postgres\n');
    });

    after(async () => {
      await agent?.close();
      await t?.close();
      if (work) await rm(work, { recursive: true, force: true });
    });

    it('stores, updates and removes a policy, and records runs, status and drills', async () => {
      const put = await t.api<PolicyView>('PUT', '/v1/backups/policies/pg', {
        selector: 'role=pg',
        paths: [join(work, 'file.txt')],
        schedule: '0 3 * * *',
        repo: join(work, 'repo'),
        credential: { kind: 'password', password: 'a postgres password' },
        retention: { daily: 7 },
      });
      assert.equal(put.status, 201, put.body);
      assert.equal(put.json.maxAgeSeconds, 2 * 86_400);
      const update = await t.api<PolicyView>('PUT', '/v1/backups/policies/pg', { selector: 'role=pg', paths: [join(work, 'file.txt')], schedule: '0 4 * * *', repo: join(work, 'repo') });
      assert.equal(update.status, 200, update.body);
      assert.equal(update.json.version, 2);
      await waitFor(() => agent.agent.backupPolicies.includes('pg'), { message: 'the node receives the policy' });
      const ran = await resultOf<RunNowOutcome>(t, '/v1/backups/policies/pg/run', {});
      assert.equal(ran.nodes[0]?.run?.state, 'succeeded', JSON.stringify(ran));
      const row = await statusRow(t, 'pg-1', 'pg');
      assert.ok(row?.lastGoodAt !== null && row?.lastGoodSnapshot === ran.nodes[0]?.run?.snapshotId);
      const drill = await resultOf<DrillView>(t, '/v1/backups/drills', { node: 'pg-1' });
      assert.equal(drill.state, 'succeeded', JSON.stringify(drill));
      assert.equal(drill.filesVerified, 1);
      assert.equal((await t.api<{ drills: DrillView[] }>('GET', '/v1/backups/drills')).json.drills.length, 1);
      assert.equal((await t.api('DELETE', '/v1/backups/policies/pg')).status, 204);
      assert.equal((await t.api<{ rows: StatusRow[] }>('GET', '/v1/backups/status')).json.rows.length, 0);
      assert.equal((await t.api<{ runs: RunView[] }>('GET', '/v1/backups/runs')).json.runs.length, 1, 'the history stays');
    });
  });
}
