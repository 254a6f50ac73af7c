import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ENCRYPTED_FIELDS } from './encrypted-fields.js';
import { deletePolicy, getPolicyByName, insertPolicy, listPolicies, replacePolicy, type BackupPolicyRecord } from './backup-policies.js';
import { getStatus, insertDrill, insertRun, listDrills, listRuns, markMissed, putStatus, trimDrills, trimRuns, type BackupDrillRecord, type BackupRunRecord } from './backup-results.js';
import type { Store } from './store.js';
import { testDatabases } from './test-databases.js';

const T0 = Date.UTC(2026, 0, 1);

function policy(over: Partial<BackupPolicyRecord> = {}): BackupPolicyRecord {
  return {
    id: 'bkp_a',
    name: 'db',
    selector: 'role=db',
    paths: ['/var/lib/app'],
    excludes: [],
    tags: ['t'],
    schedule: '0 * * * *',
    repo: '/mnt/db',
    s3Endpoint: null,
    retention: { daily: 7 },
    prune: true,
    drillSchedule: null,
    drillSample: 100,
    maxAgeMs: 7_200_000,
    maxAgeDefault: true,
    credential: 'bwe1.1.sealed',
    credentialKind: 'key-file',
    credentialVersion: 1,
    s3Keys: false,
    version: 1,
    createdBy: 'alice',
    createdAt: T0,
    updatedBy: 'alice',
    updatedAt: T0,
    ...over,
  };
}

function run(i: number, over: Partial<BackupRunRecord> = {}): BackupRunRecord {
  return {
    id: `brun_${i}`,
    nodeId: 'node_a',
    policyId: 'bkp_a',
    policyName: 'db',
    runId: `r${i}`,
    trigger: 'schedule',
    state: 'succeeded',
    snapshotId: 'a'.repeat(64),
    startedAt: T0 + i * 1000,
    finishedAt: T0 + i * 1000 + 500,
    stats: { filesNew: 1, filesChanged: 0, filesUnchanged: 2, dirs: 1, bytesProcessed: 10, bytesAdded: 5, bytesStored: 4, totalFiles: 3, totalBytes: 10, errors: 0 },
    forgotten: null,
    pruned: null,
    errorCode: null,
    errorMessage: null,
    notes: [],
    receivedAt: T0 + i * 1000 + 600,
    ...over,
  };
}

function drill(i: number): BackupDrillRecord {
  return {
    id: `drl_${i}`,
    nodeId: 'node_a',
    policyId: 'bkp_a',
    policyName: 'db',
    drillId: `d${i}`,
    trigger: 'manual',
    state: i % 2 === 0 ? 'succeeded' : 'failed',
    requestedBy: 'alice',
    startedAt: T0 + i,
    finishedAt: T0 + i + 1,
    snapshotId: null,
    snapshotTime: null,
    filesInSnapshot: 10_000_000_000,
    filesSampled: 100,
    filesVerified: 99,
    filesFailed: 1,
    failures: [{ path: '/x', reason: 'content differs' }],
    sampleBytes: 2 ** 40,
    totalBytes: 2 ** 50,
    restoreMs: 1234,
    estimatedRtoMs: 2 ** 41,
    rpoMs: null,
    errorCode: null,
    errorMessage: null,
    receivedAt: T0 + i + 2,
  };
}

for (const tdb of testDatabases()) {
  describe(`backup store (${tdb.name})`, () => {
    let store: Store;
    before(async () => {
      store = await tdb.open();
    });
    after(async () => {
      await store?.close();
    });

    it('policies: insert, compare-and-set replace, list oldest first, and the credential among the encrypted fields', async () => {
      await insertPolicy(store.db, policy());
      await insertPolicy(store.db, policy({ id: 'bkp_b', name: 'web', createdAt: T0 - 1, retention: null, s3Endpoint: 'http://minio:9000', drillSchedule: '0 4 * * 0' }));
      await assert.rejects(insertPolicy(store.db, policy({ id: 'bkp_c' })), 'names are unique');
      assert.deepEqual(await getPolicyByName(store.db, 'db'), policy());
      assert.deepEqual(
        (await listPolicies(store.db)).map((p) => p.name),
        ['web', 'db'],
      );
      assert.equal(await replacePolicy(store.db, policy({ version: 2, paths: ['/etc'], updatedBy: 'bob' }), 1), true);
      assert.equal(await replacePolicy(store.db, policy({ version: 2, paths: ['/srv'] }), 1), false, 'a stale version loses');
      const now = await getPolicyByName(store.db, 'db');
      assert.deepEqual(now?.paths, ['/etc']);
      assert.equal(now?.createdBy, 'alice', 'who created it stays');
      const field = ENCRYPTED_FIELDS.find((f) => f.name === 'backup_policies.credential');
      assert.ok(field);
      const scanned = await field.scan(store.db, undefined, 10);
      assert.deepEqual(
        scanned.map((v) => [v.key, v.binding]),
        [
          ['bkp_a', { table: 'backup_policies', id: 'bkp_a', version: 1 }],
          ['bkp_b', { table: 'backup_policies', id: 'bkp_b', version: 1 }],
        ],
      );
      assert.equal(await field.countNotUnder(store.db, 1), 0);
      assert.equal(await field.countNotUnder(store.db, 2), 2);
      assert.equal(await field.replace(store.db, 'bkp_a', 'bwe1.1.sealed', 'bwe1.2.resealed'), true);
      assert.equal(await field.replace(store.db, 'bkp_a', 'bwe1.1.sealed', 'bwe1.2.other'), false);
      assert.equal((await getPolicyByName(store.db, 'db'))?.credential, 'bwe1.2.resealed');
    });

    it('runs: stored once per node and run id, trimmed to the newest, listed newest first', async () => {
      for (let i = 1; i <= 5; i++) assert.equal(await insertRun(store.db, run(i)), true);
      assert.equal(await insertRun(store.db, run(5, { id: 'brun_again' })), false, 'the same report twice is stored once');
      assert.equal(await insertRun(store.db, run(1, { id: 'brun_other', nodeId: 'node_b' })), true, 'run ids are per node');
      assert.equal(await trimRuns(store.db, 'node_a', 'bkp_a', 3), 2);
      const listed = await listRuns(store.db, { nodeIds: ['node_a', 'node_b'], limit: 10 });
      assert.deepEqual(
        listed.map((r) => r.id),
        ['brun_5', 'brun_4', 'brun_3', 'brun_other'],
      );
      assert.deepEqual(listed[0], run(5));
      assert.deepEqual(await listRuns(store.db, { nodeIds: ['node_b'], limit: 10, policyName: 'web' }), []);
      assert.deepEqual(await listRuns(store.db, { nodeIds: [], limit: 10 }), []);
    });

    it('status: put, and backup.missed marked once per gap', async () => {
      assert.equal(await markMissed(store.db, 'node_a', 'bkp_a', null, T0 + 10), true, 'never backed up: a row is made');
      assert.equal(await markMissed(store.db, 'node_a', 'bkp_a', null, T0 + 20), false, 'once');
      assert.equal((await getStatus(store.db, 'node_a', 'bkp_a'))?.missedAt, T0 + 10);
      await putStatus(store.db, { nodeId: 'node_a', policyId: 'bkp_a', lastGoodAt: T0 + 30, lastGoodSnapshot: 'b'.repeat(64), lastRunAt: T0 + 31, lastRunState: 'succeeded', lastErrorCode: null, lastErrorMessage: null, missedAt: null });
      assert.equal(await markMissed(store.db, 'node_a', 'bkp_a', T0 + 1, T0 + 40), false, 'a good backup arrived since the sweep read the status');
      assert.equal(await markMissed(store.db, 'node_a', 'bkp_a', T0 + 30, T0 + 40), true);
      assert.equal((await getStatus(store.db, 'node_a', 'bkp_a'))?.lastGoodSnapshot, 'b'.repeat(64));
    });

    it('drills: large figures survive, trimmed and listed like runs; removing a policy drops its status, not its history', async () => {
      for (let i = 1; i <= 4; i++) assert.equal(await insertDrill(store.db, drill(i)), true);
      assert.equal(await insertDrill(store.db, { ...drill(4), id: 'drl_x' }), false);
      assert.equal(await trimDrills(store.db, 'node_a', 'bkp_a', 2), 2);
      const listed = await listDrills(store.db, { nodeIds: ['node_a'], limit: 10 });
      assert.deepEqual(listed, [drill(4), drill(3)]);
      assert.equal(await deletePolicy(store.db, 'bkp_a'), true);
      assert.equal(await getStatus(store.db, 'node_a', 'bkp_a'), undefined);
      assert.equal((await listDrills(store.db, { nodeIds: ['node_a'], limit: 10 })).length, 2);
      assert.equal(await deletePolicy(store.db, 'bkp_a'), false);
    });
  });
}
