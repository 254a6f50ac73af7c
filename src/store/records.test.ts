import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  getCertificate,
  insertCertificate,
  listNodeCertificates,
  listRevokedCertificates,
  revokeCertificate,
  revokeNodeCertificates,
  revokeNodeCertificatesExcept,
  type CertificateRecord,
} from './certificates.js';
import { getClusterState, setClusterState, setClusterStateIfAbsent } from './cluster-state.js';
import { appendEvent, appendEvents, lastEventId, listEvents } from './events.js';
import type { Store } from './store.js';
import { testDatabases } from './test-databases.js';
import { withTransaction } from './transaction.js';

const T0 = Date.UTC(2026, 0, 1);
const DAY = 86_400_000;

function cert(serial: string, nodeId: string, issuedAt: number): CertificateRecord {
  return { serial, nodeId, fingerprint: `sha256:${serial}`, notBefore: issuedAt, notAfter: issuedAt + DAY, issuedAt, revokedAt: null, revokeReason: null };
}

for (const tdb of testDatabases()) {
  describe(`certificates (${tdb.name})`, () => {
    let store: Store;
    before(async () => {
      store = await tdb.open();
    });
    after(async () => {
      await store.close();
    });

    it('inserts, reads and lists a node\'s certificates newest first', async () => {
      const first = cert('01', 'node_a', T0);
      await insertCertificate(store.db, first);
      await insertCertificate(store.db, cert('02', 'node_a', T0 + 1000));
      await insertCertificate(store.db, cert('03', 'node_b', T0));
      assert.deepEqual(await getCertificate(store.db, '01'), first);
      assert.equal(await getCertificate(store.db, 'ffff'), undefined);
      assert.deepEqual((await listNodeCertificates(store.db, 'node_a')).map((c) => c.serial), ['02', '01']);
      assert.deepEqual(await listNodeCertificates(store.db, 'node_none'), []);
    });

    it('revokes one certificate once', async () => {
      assert.equal(await revokeCertificate(store.db, '03', T0 + 5, 'keyCompromise'), true);
      assert.equal(await revokeCertificate(store.db, '03', T0 + 6, 'superseded'), false);
      assert.equal(await revokeCertificate(store.db, 'ffff', T0, 'x'), false);
      const got = await getCertificate(store.db, '03');
      assert.equal(got?.revokedAt, T0 + 5);
      assert.equal(got?.revokeReason, 'keyCompromise');
    });

    it('revokes all of a node\'s certificates and returns the newly revoked', async () => {
      await revokeCertificate(store.db, '01', T0 + 7, 'superseded');
      assert.deepEqual(await revokeNodeCertificates(store.db, 'node_a', T0 + 8, 'nodeRemoved'), ['02']);
      assert.deepEqual(await revokeNodeCertificates(store.db, 'node_a', T0 + 9, 'nodeRemoved'), []);
      assert.deepEqual(await listRevokedCertificates(store.db), [
        { serial: '01', revokedAt: T0 + 7 },
        { serial: '02', revokedAt: T0 + 8 },
        { serial: '03', revokedAt: T0 + 5 },
      ]);
    });

    it('lists only the revoked certificates not yet expired when given the time', async () => {
      // '01' and '03' expire at T0 + DAY, '02' a second later, '20' later still; '21' is unrevoked.
      await insertCertificate(store.db, { ...cert('20', 'node_x', T0), notAfter: T0 + 3 * DAY });
      await insertCertificate(store.db, { ...cert('21', 'node_x', T0), notAfter: T0 + 3 * DAY });
      await revokeCertificate(store.db, '20', T0 + 10, 'superseded');
      assert.deepEqual(await listRevokedCertificates(store.db, { now: T0 + DAY - 1 }), [
        { serial: '01', revokedAt: T0 + 7 },
        { serial: '02', revokedAt: T0 + 8 },
        { serial: '03', revokedAt: T0 + 5 },
        { serial: '20', revokedAt: T0 + 10 },
      ]);
      // A certificate whose notAfter is now has expired.
      assert.deepEqual(await listRevokedCertificates(store.db, { now: T0 + DAY }), [
        { serial: '02', revokedAt: T0 + 8 },
        { serial: '20', revokedAt: T0 + 10 },
      ]);
      assert.deepEqual(await listRevokedCertificates(store.db, { now: T0 + DAY + 1000 }), [{ serial: '20', revokedAt: T0 + 10 }]);
      assert.deepEqual(await listRevokedCertificates(store.db, { now: T0 + 3 * DAY }), []);
      assert.equal((await listRevokedCertificates(store.db)).length, 4);
    });
    it('revokes the certificates a renewal replaced, keeping the current and newer ones', async () => {
      await insertCertificate(store.db, cert('10', 'node_r', T0));
      await insertCertificate(store.db, cert('11', 'node_r', T0 + 100));
      await insertCertificate(store.db, cert('12', 'node_r', T0 + 200));
      await insertCertificate(store.db, cert('13', 'node_r', T0 + 300));
      await insertCertificate(store.db, cert('14', 'node_other', T0));
      await revokeCertificate(store.db, '10', T0 + 1, 'superseded');
      assert.deepEqual(await revokeNodeCertificatesExcept(store.db, 'node_r', ['12'], T0 + 400, 'superseded', { issuedUpTo: T0 + 200 }), ['11']);
      assert.deepEqual(await revokeNodeCertificatesExcept(store.db, 'node_r', ['12'], T0 + 500, 'superseded', { issuedUpTo: T0 + 200 }), []);
      assert.equal((await getCertificate(store.db, '12'))?.revokedAt, null);
      assert.equal((await getCertificate(store.db, '13'))?.revokedAt, null);
      assert.equal((await getCertificate(store.db, '14'))?.revokedAt, null);
      assert.equal((await getCertificate(store.db, '10'))?.revokedAt, T0 + 1);
      assert.equal((await getCertificate(store.db, '11'))?.revokeReason, 'superseded');
    });
  });

  describe(`events (${tdb.name})`, () => {
    let store: Store;
    before(async () => {
      store = await tdb.open();
    });
    after(async () => {
      await store.close();
    });

    it('starts empty', async () => {
      assert.equal(await lastEventId(store.db), 0);
      assert.deepEqual(await listEvents(store.db, { limit: 10 }), []);
    });

    it('appends, returning increasing ids', async () => {
      const a = await appendEvent(store.db, { time: T0, type: 'node.joined', nodeId: 'node_a', details: { name: 'web-1', labels: { env: 'prod' } } });
      const b = await appendEvent(store.db, { time: T0 + 1, type: 'cluster.initialised', nodeId: null, details: {} });
      assert.equal(typeof a, 'number');
      assert.ok(b > a);
      const batch = await appendEvents(store.db, [
        { time: T0 + 2, type: 'node.state', nodeId: 'node_a', details: { from: 'active', to: 'suspect' } },
        { time: T0 + 3, type: 'node.state', nodeId: 'node_b', details: { from: 'pending', to: 'active' } },
        { time: T0 + 4, type: 'node.state', nodeId: 'node_a', details: { from: 'suspect', to: 'active' } },
      ]);
      assert.equal(batch.length, 3);
      assert.ok(batch[0]! > b && batch[1]! > batch[0]! && batch[2]! > batch[1]!);
      assert.deepEqual(await appendEvents(store.db, []), []);
      assert.equal(await lastEventId(store.db), batch[2]);
    });

    it('lists ascending with filters, resume point and limit', async () => {
      const all = await listEvents(store.db, { limit: 100 });
      assert.equal(all.length, 5);
      assert.deepEqual(all[0], { id: all[0]!.id, time: T0, type: 'node.joined', nodeId: 'node_a', details: { name: 'web-1', labels: { env: 'prod' } } });
      assert.deepEqual(all.map((e) => e.time), [T0, T0 + 1, T0 + 2, T0 + 3, T0 + 4]);
      assert.deepEqual((await listEvents(store.db, { afterId: all[1]!.id, limit: 2 })).map((e) => e.time), [T0 + 2, T0 + 3]);
      assert.deepEqual((await listEvents(store.db, { nodeId: 'node_a', limit: 10 })).map((e) => e.time), [T0, T0 + 2, T0 + 4]);
      assert.deepEqual((await listEvents(store.db, { type: 'node.state', nodeId: 'node_a', limit: 10 })).map((e) => e.time), [T0 + 2, T0 + 4]);
      assert.deepEqual(await listEvents(store.db, { afterId: all[4]!.id, limit: 10 }), []);
    });

    it('a failed transaction leaves no events', async () => {
      const before = await lastEventId(store.db);
      await assert.rejects(
        withTransaction(store.db, async (trx) => {
          await appendEvent(trx, { time: T0, type: 'x', nodeId: null, details: {} });
          throw new Error('boom');
        }),
        /boom/,
      );
      assert.deepEqual(await listEvents(store.db, { afterId: before, limit: 10 }), []);
    });

    it('batches more than one chunk', async () => {
      const list = Array.from({ length: 2500 }, (_, i) => ({ time: T0 + i, type: 'bulk', nodeId: null, details: { i } }));
      const ids = await appendEvents(store.db, list);
      assert.equal(ids.length, 2500);
      const back = await listEvents(store.db, { type: 'bulk', limit: 5000 });
      assert.deepEqual(back.map((e) => e.details.i), list.map((e) => e.details.i));
      assert.deepEqual(back.map((e) => e.id), ids);
    });
  });

  describe(`cluster state (${tdb.name})`, () => {
    let store: Store;
    before(async () => {
      store = await tdb.open();
    });
    after(async () => {
      await store.close();
    });

    it('gets, upserts and inserts only if absent', async () => {
      assert.equal(await getClusterState(store.db, 'name'), undefined);
      await setClusterState(store.db, 'name', 'alpha', T0);
      await setClusterState(store.db, 'name', 'beta', T0 + 1);
      assert.equal(await getClusterState(store.db, 'name'), 'beta');
      assert.equal(await setClusterStateIfAbsent(store.db, 'name', 'gamma', T0 + 2), false);
      assert.equal(await getClusterState(store.db, 'name'), 'beta');
    });

    it('two racing initialisations agree on one value', async () => {
      const twin = await tdb.openTwin(store);
      try {
        const results = await Promise.all([
          setClusterStateIfAbsent(store.db, 'ca', 'ca-from-a', T0),
          setClusterStateIfAbsent(twin.db, 'ca', 'ca-from-b', T0),
          ...Array.from({ length: 6 }, (_, i) => setClusterStateIfAbsent(store.db, 'ca', `ca-${i}`, T0)),
        ]);
        assert.equal(results.filter(Boolean).length, 1);
        const winner = await getClusterState(store.db, 'ca');
        assert.equal(await getClusterState(twin.db, 'ca'), winner);
      } finally {
        await twin.close();
      }
    });
  });
}
