import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { chainNext } from '../auditlog/chain.js';
import { generateAuditKey, signCheckpoint, verifyCheckpoint } from '../auditlog/checkpoint.js';
import type { AuditEntry, AuditEntryInput } from '../auditlog/entry.js';
import { verifyAuditLog, type TamperKind } from '../auditlog/verify.js';
import {
  appendAuditEntries,
  getAuditHead,
  iterateAuditEntries,
  listAuditEntries,
  listCheckpoints,
  writeCheckpointIfDue,
  type AppendAuditOptions,
} from './audit-log.js';
import type { Store } from './store.js';
import { testDatabases } from './test-databases.js';

const key = generateAuditKey();
const T0 = Date.UTC(2026, 0, 1);
const opts = (over: Partial<AppendAuditOptions> = {}): AppendAuditOptions => ({
  sign: (seq, hash) => ({ signature: signCheckpoint(key.privateKeyPem, { seq, hash }), keyId: key.keyId }),
  checkpointEvery: 100,
  checkpointIntervalMs: 5 * 60_000,
  now: T0,
  ...over,
});

const input = (i: number): AuditEntryInput => ({
  time: T0 + i,
  actor: `user:u${i % 5}`,
  action: i % 2 === 0 ? 'nodes.list' : 'nodes.delete',
  resource: `nodes/n${i}`,
  decision: i % 10 === 0 ? 'deny' : 'allow',
  source: '10.0.0.1',
  requestId: `r${i}`,
  outcome: 'success',
  details: { i, nested: { ok: true } },
});

/** Appends `n` entries in uneven batches, as a busy server would. */
async function fill(store: Store, n: number, batch = 37): Promise<void> {
  for (let i = 1; i <= n; i += batch) {
    const inputs = Array.from({ length: Math.min(batch, n - i + 1) }, (_, k) => input(i + k));
    await appendAuditEntries(store.db, inputs, opts());
  }
}

async function verifyStore(store: Store) {
  return verifyAuditLog({
    entries: iterateAuditEntries(store.db, { pageSize: 64 }),
    checkpoints: await listCheckpoints(store.db),
    publicKeyPem: key.publicKeyPem,
    head: () => getAuditHead(store.db),
  });
}

async function assertBad(store: Store, seq: number, kind: TamperKind): Promise<void> {
  const result = await verifyStore(store);
  assert.equal(result.ok, false, 'tampering went unnoticed');
  if (!result.ok) assert.deepEqual({ seq: result.firstBad.seq, kind: result.firstBad.kind }, { seq, kind }, result.firstBad.message);
}

/** Moves rows with seq ≥ from by `by`, in two steps so no unique check trips midway (as an attacker would). */
async function shiftSeqs(store: Store, from: number, by: number): Promise<void> {
  await sql`update audit_entries set seq = -(seq + ${by}) where seq >= ${from}`.execute(store.db);
  await sql`update audit_entries set seq = -seq where seq < 0`.execute(store.db);
}

function row(e: AuditEntry) {
  return {
    seq: e.seq,
    time: e.time,
    actor: e.actor,
    action: e.action,
    resource: e.resource,
    decision: e.decision,
    source: e.source,
    request_id: e.requestId,
    outcome: e.outcome,
    details: JSON.stringify(e.details),
    prev_hash: e.prevHash,
    hash: e.hash,
  };
}

for (const tdb of testDatabases()) {
  describe(`audit log store (${tdb.name})`, () => {
    it('1,000 entries with a checkpoint every 100 verify, and read back as written', async () => {
      const store = await tdb.open();
      try {
        await fill(store, 1000);
        const cps = await listCheckpoints(store.db);
        assert.deepEqual(
          cps.map((c) => c.seq),
          [100, 200, 300, 400, 500, 600, 700, 800, 900, 1000],
        );
        for (const cp of cps) assert.ok(verifyCheckpoint(key.publicKeyPem, cp));
        const head = await getAuditHead(store.db);
        assert.equal(head?.seq, 1000);
        assert.deepEqual(await verifyStore(store), { ok: true, entries: 1000, checkpoints: 10, lastSeq: 1000 });
        const all: AuditEntry[] = [];
        for await (const e of iterateAuditEntries(store.db, { pageSize: 333 })) all.push(e);
        assert.deepEqual(
          all.map((e) => e.seq),
          Array.from({ length: 1000 }, (_, i) => i + 1),
        );
        assert.deepEqual(all[41]?.details, { i: 42, nested: { ok: true } });
      } finally {
        await store.close();
      }
    });

    it('lists by actor, action, time and seq, newest or oldest first', async () => {
      const store = await tdb.open();
      try {
        await fill(store, 50, 50);
        const byActor = await listAuditEntries(store.db, { actor: 'user:u3', limit: 100 });
        assert.deepEqual(
          byActor.map((e) => e.seq),
          [3, 8, 13, 18, 23, 28, 33, 38, 43, 48],
        );
        const newest = await listAuditEntries(store.db, { action: 'nodes.delete', limit: 3, newest: true });
        assert.deepEqual(
          newest.map((e) => e.seq),
          [45, 47, 49],
        );
        const window = await listAuditEntries(store.db, { since: T0 + 10, until: T0 + 13, limit: 100 });
        assert.deepEqual(
          window.map((e) => e.seq),
          [10, 11, 12],
        );
        const page = await listAuditEntries(store.db, { afterSeq: 47, limit: 100 });
        assert.deepEqual(
          page.map((e) => e.seq),
          [48, 49, 50],
        );
      } finally {
        await store.close();
      }
    });

    it('writes a checkpoint when unsigned entries grow old, at the append or by the timer', async () => {
      const store = await tdb.open();
      try {
        await appendAuditEntries(store.db, [input(1), input(2)], opts({ now: T0 + 10 }));
        assert.equal(await writeCheckpointIfDue(store.db, { checkpointIntervalMs: 60_000, now: T0 + 30_000 }), false);
        assert.equal(await writeCheckpointIfDue(store.db, { checkpointIntervalMs: 60_000, now: T0 + 61_000 }), true);
        assert.equal(await writeCheckpointIfDue(store.db, { checkpointIntervalMs: 60_000, now: T0 + 999_000 }), false, 'nothing new to sign');
        assert.deepEqual(
          (await listCheckpoints(store.db)).map((c) => c.seq),
          [2],
        );
        await appendAuditEntries(store.db, [input(3)], opts({ now: T0 + 100 }));
        await appendAuditEntries(store.db, [{ ...input(4), time: T0 + 400_000 }], opts({ now: T0 + 400_000, checkpointIntervalMs: 300_000 }));
        assert.deepEqual(
          (await listCheckpoints(store.db)).map((c) => c.seq),
          [2, 4],
        );
        assert.equal((await verifyStore(store)).ok, true);
      } finally {
        await store.close();
      }
    });

    describe('tampering in the database is found, with the first bad seq and its kind', () => {
      let store: Store;
      before(async () => {
        store = await tdb.open();
      });
      after(async () => {
        await store.close();
      });
      const fresh = async (): Promise<void> => {
        await store.db.deleteFrom('audit_entries').execute();
        await store.db.deleteFrom('audit_checkpoints').execute();
        await store.db.deleteFrom('cluster_state').where('key', '=', 'audit.head').execute();
        await fill(store, 250);
        assert.equal((await verifyStore(store)).ok, true);
      };

      it('a field changed', async () => {
        await fresh();
        await store.db.updateTable('audit_entries').set({ actor: 'user:nobody' }).where('seq', '=', 137).execute();
        await assertBad(store, 137, 'modified');
        await fresh();
        await store.db.updateTable('audit_entries').set({ details: '{"i":137,"nested":{"ok":false}}' }).where('seq', '=', 42).execute();
        await assertBad(store, 42, 'modified');
      });

      it('an entry deleted', async () => {
        await fresh();
        await store.db.deleteFrom('audit_entries').where('seq', '=', 137).execute();
        await assertBad(store, 137, 'deleted');
        await fresh();
        await store.db.deleteFrom('audit_entries').where('seq', '=', 137).execute();
        await shiftSeqs(store, 138, -1);
        await assertBad(store, 137, 'deleted');
      });

      it('a forged entry inserted at the end or in the middle', async () => {
        await fresh();
        const last = (await listAuditEntries(store.db, { limit: 1, newest: true }))[0];
        await store.db.insertInto('audit_entries').values(row(chainNext(last, input(999)))).execute();
        await assertBad(store, 251, 'inserted');
        await assert.rejects(
          appendAuditEntries(store.db, [input(1000)], opts()),
          (err: unknown) => (err as { code?: string }).code === 'AUDIT_TAMPERED',
          'the writer refuses to sign over rows it did not write',
        );

        await fresh();
        const before136 = (await listAuditEntries(store.db, { afterSeq: 135, limit: 1 }))[0];
        await shiftSeqs(store, 137, 1);
        await store.db.insertInto('audit_entries').values(row(chainNext(before136, input(999)))).execute();
        await assertBad(store, 137, 'inserted');
      });

      it('two entries swapped', async () => {
        await fresh();
        await sql`update audit_entries set seq = -1 where seq = 137`.execute(store.db);
        await sql`update audit_entries set seq = 137 where seq = 138`.execute(store.db);
        await sql`update audit_entries set seq = 138 where seq = -1`.execute(store.db);
        await assertBad(store, 137, 'reordered');
        await fresh();
        await sql`update audit_entries set seq = -1 where seq = 120`.execute(store.db);
        await sql`update audit_entries set seq = 120 where seq = 180`.execute(store.db);
        await sql`update audit_entries set seq = 180 where seq = -1`.execute(store.db);
        await assertBad(store, 120, 'reordered');
      });

      it('the tail cut after the last checkpoint, and the writer keeps the gap visible', async () => {
        await fresh();
        await store.db.deleteFrom('audit_entries').where('seq', '>', 230).execute();
        await assertBad(store, 231, 'truncated');
        // The next append continues from the signed head, so the cut stays a gap and seqs are never reused.
        const [next] = await appendAuditEntries(store.db, [input(251)], opts());
        assert.equal(next?.seq, 251);
        await assertBad(store, 231, 'deleted');

        await fresh();
        await store.db.deleteFrom('audit_entries').where('seq', '>', 150).execute();
        await assertBad(store, 151, 'truncated');
      });

      it('a checkpoint signature forged or its hash changed', async () => {
        await fresh();
        const other = generateAuditKey();
        const cp = (await listCheckpoints(store.db)).find((c) => c.seq === 200);
        assert.ok(cp);
        await store.db
          .updateTable('audit_checkpoints')
          .set({ signature: signCheckpoint(other.privateKeyPem, cp) })
          .where('seq', '=', 200)
          .execute();
        await assertBad(store, 200, 'bad-checkpoint');
        await fresh();
        await store.db.updateTable('audit_checkpoints').set({ hash: 'a'.repeat(64) }).where('seq', '=', 100).execute();
        await assertBad(store, 100, 'bad-checkpoint');
      });
    });
  });
}
