import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { NodeFacts } from '../protocol/facts.js';
import {
  compareAndSetNodeState,
  countNodesByState,
  findNodes,
  getNode,
  insertNode,
  listNodes,
  markNodeRemoved,
  setAgentInfo,
  setFacts,
  setNodeCertificate,
  setNodeState,
  touchLastSeen,
  type NodeRecord,
} from './nodes.js';
import type { Store } from './store.js';
import { testDatabases } from './test-databases.js';

const T0 = Date.UTC(2026, 0, 1);

function node(id: string, over: Partial<NodeRecord> = {}): NodeRecord {
  return {
    id,
    name: id.replace('node_', 'host-'),
    labels: { env: 'prod' },
    state: 'active',
    facts: null,
    factsHash: null,
    certSerial: null,
    certNotAfter: null,
    agentVersion: null,
    protocolVersion: null,
    joinTokenId: 'jt_1',
    joinedAt: T0,
    lastSeenAt: null,
    stateChangedAt: T0,
    removedAt: null,
    ...over,
  };
}

const facts: NodeFacts = {
  hostname: 'web-1',
  os: { id: 'debian', versionId: '12' },
  ipAddresses: [{ interface: 'eth0', address: '10.0.0.1', family: 'ipv4' }],
  listeningPorts: [{ protocol: 'tcp', address: '0.0.0.0', port: 22 }],
  collectedAt: T0,
};

for (const tdb of testDatabases()) {
  describe(`nodes (${tdb.name})`, () => {
    let store: Store;
    before(async () => {
      store = await tdb.open();
    });
    after(async () => {
      await store.close();
    });

    it('inserts and reads back a node with JSON columns and big times', async () => {
      const rec = node('node_a', { labels: { env: 'prod', role: 'web' }, facts, factsHash: 'h1', certSerial: 'ab12', certNotAfter: 8_000_000_000_000, lastSeenAt: T0 + 1 });
      await insertNode(store.db, rec);
      const got = await getNode(store.db, 'node_a');
      assert.deepEqual(got, rec);
      assert.equal(typeof got?.joinedAt, 'number');
      assert.equal(await getNode(store.db, 'node_missing'), undefined);
    });

    it('finds by id or name, removed included', async () => {
      await insertNode(store.db, node('node_f1', { name: 'shared' }));
      await insertNode(store.db, node('node_f2', { name: 'shared', state: 'removed', removedAt: T0 }));
      await insertNode(store.db, node('node_f3', { name: 'node_f1' }));
      assert.deepEqual((await findNodes(store.db, 'shared')).map((n) => n.id), ['node_f1', 'node_f2']);
      assert.deepEqual((await findNodes(store.db, 'node_f1')).map((n) => n.id).sort(), ['node_f1', 'node_f3']);
      assert.deepEqual(await findNodes(store.db, 'nobody'), []);
    });

    it('lists by name then id, hiding removed nodes unless asked', async () => {
      const all = await listNodes(store.db, { includeRemoved: true });
      const keys = all.map((n) => [n.name, n.id].join('|'));
      assert.deepEqual(keys, [...keys].sort());
      assert.ok(all.some((n) => n.state === 'removed'));
      assert.ok((await listNodes(store.db)).every((n) => n.state !== 'removed'));
      assert.deepEqual((await listNodes(store.db, { state: 'removed' })).map((n) => n.id), ['node_f2']);
      assert.ok((await listNodes(store.db, { state: 'active' })).every((n) => n.state === 'active'));
    });

    it('sets state and reports whether a row changed', async () => {
      await insertNode(store.db, node('node_s'));
      assert.equal(await setNodeState(store.db, 'node_s', 'suspect', T0 + 10), true);
      assert.equal(await setNodeState(store.db, 'node_s', 'suspect', T0 + 20), false);
      const got = await getNode(store.db, 'node_s');
      assert.equal(got?.state, 'suspect');
      assert.equal(got?.stateChangedAt, T0 + 10);
      assert.equal(await setNodeState(store.db, 'node_nope', 'active', T0), false);
    });

    it('compare-and-set moves only from the given states', async () => {
      await insertNode(store.db, node('node_c', { state: 'active' }));
      assert.equal(await compareAndSetNodeState(store.db, 'node_c', ['pending'], 'offline', T0 + 1), false);
      assert.equal(await compareAndSetNodeState(store.db, 'node_c', ['active', 'suspect'], 'suspect', T0 + 2), true);
      assert.equal(await compareAndSetNodeState(store.db, 'node_c', [], 'active', T0 + 3), false);
      const results = await Promise.all(Array.from({ length: 5 }, () => compareAndSetNodeState(store.db, 'node_c', ['suspect'], 'offline', T0 + 4)));
      assert.equal(results.filter(Boolean).length, 1);
      const got = await getNode(store.db, 'node_c');
      assert.equal(got?.state, 'offline');
      assert.equal(got?.stateChangedAt, T0 + 4);
    });

    it('never changes the state of a removed node', async () => {
      await insertNode(store.db, node('node_r'));
      assert.equal(await markNodeRemoved(store.db, 'node_r', T0 + 5), true);
      assert.equal(await markNodeRemoved(store.db, 'node_r', T0 + 6), false);
      assert.equal(await setNodeState(store.db, 'node_r', 'active', T0 + 7), false);
      assert.equal(await compareAndSetNodeState(store.db, 'node_r', ['removed', 'active'], 'active', T0 + 7), false);
      const got = await getNode(store.db, 'node_r');
      assert.equal(got?.state, 'removed');
      assert.equal(got?.removedAt, T0 + 5);
      assert.equal(got?.stateChangedAt, T0 + 5);
      assert.equal(await markNodeRemoved(store.db, 'node_missing', T0), false);
    });

    it('stores facts, certificate and agent info', async () => {
      await insertNode(store.db, node('node_i'));
      assert.equal(await setFacts(store.db, 'node_i', facts, 'hash-1'), true);
      assert.equal(await setNodeCertificate(store.db, 'node_i', 'ff01', T0 + 86_400_000), true);
      assert.equal(await setAgentInfo(store.db, 'node_i', { agentVersion: '0.1.0', protocolVersion: 1 }), true);
      const got = await getNode(store.db, 'node_i');
      assert.deepEqual(got?.facts, facts);
      assert.equal(got?.factsHash, 'hash-1');
      assert.equal(got?.certSerial, 'ff01');
      assert.equal(got?.certNotAfter, T0 + 86_400_000);
      assert.equal(got?.agentVersion, '0.1.0');
      assert.equal(got?.protocolVersion, 1);
    });

    it('touches last-seen of 5,000 nodes in one batch', async () => {
      const ids = Array.from({ length: 5000 }, (_, i) => `node_b${String(i).padStart(5, '0')}`);
      await store.db.transaction().execute(async (trx) => {
        for (const id of ids) await insertNode(trx, node(id));
      });
      const started = performance.now();
      await touchLastSeen(store.db, ids.map((id, i) => ({ id, at: T0 + i })));
      const ms = performance.now() - started;
      assert.ok(ms < 5000, `touchLastSeen of 5,000 took ${ms.toFixed(0)} ms`);
      const rows = await store.db.selectFrom('nodes').select(['id', 'last_seen_at']).where('id', 'like', 'node_b%').orderBy('id').execute();
      assert.equal(rows.length, 5000);
      rows.forEach((r, i) => assert.equal(r.last_seen_at, T0 + i));
      await touchLastSeen(store.db, []);
      await touchLastSeen(store.db, [{ id: 'node_unknown', at: T0 }]);
    });

    it('counts nodes in every state as numbers', async () => {
      const counts = await countNodesByState(store.db);
      assert.deepEqual(Object.keys(counts).sort(), ['active', 'offline', 'pending', 'removed', 'suspect']);
      for (const value of Object.values(counts)) assert.equal(typeof value, 'number');
      assert.equal(counts.pending, 0);
      assert.equal(counts.removed, 2);
      assert.equal(counts.offline, 1);
      assert.equal(counts.suspect, 1);
      const total = Object.values(counts).reduce((a, b) => a + b, 0);
      assert.equal(total, (await listNodes(store.db, { includeRemoved: true })).length);
    });
  });
}
