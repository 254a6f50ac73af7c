import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { ManualClock } from '../core/clock.js';
import { silentLogger } from '../core/logger.js';
import { REDACTED } from '../auditlog/entry.js';
import { ephemeralCipher } from '../keyring/record-cipher.js';
import { listCheckpoints } from '../store/audit-log.js';
import type { Store } from '../store/store.js';
import { testDatabases } from '../store/test-databases.js';
import { loadOrCreateAuditKey } from './audit-key.js';
import { AuditLogService, type AuditAppendInput } from './audit-log-service.js';

const keyring = ephemeralCipher();

const entry = (i: number, over: Partial<AuditAppendInput> = {}): AuditAppendInput => ({
  actor: 'user:alice',
  action: 'nodes.read',
  resource: `nodes/n${i}`,
  decision: 'allow',
  source: '127.0.0.1',
  requestId: `req-${i}`,
  outcome: 'success',
  details: { i },
  ...over,
});

async function service(store: Store, clock = new ManualClock(), over: { checkpointEvery?: number; checkpointIntervalMs?: number } = {}): Promise<AuditLogService> {
  const key = await loadOrCreateAuditKey(store, keyring, clock);
  return new AuditLogService({ store, clock, key, log: silentLogger, ...over });
}

const isCode = (code: string) => (err: unknown) => (err as { code?: string }).code === code;

for (const tdb of testDatabases()) {
  describe(`AuditLogService (${tdb.name})`, () => {
    it('100 concurrent appends make a gapless chain that verifies', async () => {
      const store = await tdb.open();
      const audit = await service(store, new ManualClock(), { checkpointEvery: 10 });
      try {
        const entries = await Promise.all(Array.from({ length: 100 }, (_, i) => audit.append(entry(i))));
        assert.deepEqual(
          entries.map((e) => e.seq).sort((a, b) => a - b),
          Array.from({ length: 100 }, (_, i) => i + 1),
        );
        assert.deepEqual(
          entries.map((e) => e.requestId),
          Array.from({ length: 100 }, (_, i) => `req-${i}`),
          'each caller gets its own entry back',
        );
        assert.deepEqual(await audit.verify(), { ok: true, entries: 100, checkpoints: 10, lastSeq: 100 });
      } finally {
        await audit.close();
        await store.close();
      }
    });

    if (tdb.kind === 'postgres') {
      it('two replicas appending at once share one chain', async () => {
        const store = await tdb.open();
        const twin = await tdb.openTwin(store);
        const [a, b] = [await service(store), await service(twin)];
        try {
          assert.equal(a.keyId, b.keyId, 'replicas agree on one audit key');
          await Promise.all(Array.from({ length: 100 }, (_, i) => (i % 2 === 0 ? a : b).append(entry(i))));
          const result = await a.verify();
          assert.deepEqual(result, { ok: true, entries: 100, checkpoints: 1, lastSeq: 100 });
        } finally {
          await a.close();
          await b.close();
          await twin.close();
          await store.close();
        }
      });
    }

    it('verifies while appends go on', async () => {
      const store = await tdb.open();
      const audit = await service(store);
      try {
        await Promise.all(Array.from({ length: 300 }, (_, i) => audit.append(entry(i))));
        const writing = Promise.all(Array.from({ length: 200 }, (_, i) => audit.append(entry(300 + i))));
        const results = await Promise.all([audit.verify(), audit.verify()]);
        await writing;
        for (const r of results) assert.equal(r.ok, true, JSON.stringify(r));
        assert.equal((await audit.verify()).ok, true);
      } finally {
        await audit.close();
        await store.close();
      }
    });

    it('keeps secrets out of the log', async () => {
      const store = await tdb.open();
      const audit = await service(store);
      try {
        const e = await audit.append(entry(1, { details: { user: 'bob', password: 'hunter2', totpCode: '123456', header: 'Bearer abc.def' } }));
        assert.deepEqual(e.details, { user: 'bob', password: REDACTED, totpCode: REDACTED, header: REDACTED });
        const rows = await sql<{ details: string }>`select details from audit_entries`.execute(store.db);
        assert.doesNotMatch(JSON.stringify(rows.rows), /hunter2|123456|abc\.def/);
      } finally {
        await audit.close();
        await store.close();
      }
    });

    it('refuses an unhashable entry for its caller only', async () => {
      const store = await tdb.open();
      const audit = await service(store);
      try {
        const [bad, good] = await Promise.allSettled([audit.append(entry(1, { details: { n: Number.NaN } })), audit.append(entry(2))]);
        assert.equal(bad.status, 'rejected');
        assert.equal(good.status, 'fulfilled');
        assert.equal((await audit.verify()).ok, true);
      } finally {
        await audit.close();
        await store.close();
      }
    });

    it('fails closed: when the log cannot be written, append rejects with AUDIT_UNAVAILABLE', async () => {
      const store = await tdb.open();
      const audit = await service(store);
      try {
        await audit.append(entry(1));
        await store.db.schema.dropTable('audit_entries').execute();
        const results = await Promise.allSettled([audit.append(entry(2)), audit.append(entry(3))]);
        for (const r of results) {
          assert.equal(r.status, 'rejected');
          assert.ok(isCode('AUDIT_UNAVAILABLE')(r.status === 'rejected' ? r.reason : undefined));
          assert.equal((r as PromiseRejectedResult).reason.status, 503);
        }
      } finally {
        await audit.close();
        await store.close();
      }
      const closed = await tdb.open();
      const audit2 = await service(closed);
      await closed.close();
      await assert.rejects(audit2.append(entry(4)), isCode('AUDIT_UNAVAILABLE'));
      await audit2.close();
      await assert.rejects(audit2.append(entry(5)), isCode('AUDIT_UNAVAILABLE'));
    });

    it('signs a checkpoint once unsigned entries are older than the interval', async () => {
      const store = await tdb.open();
      const clock = new ManualClock();
      const audit = await service(store, clock, { checkpointIntervalMs: 60_000 });
      try {
        await audit.append(entry(1));
        await audit.append(entry(2));
        assert.equal(await audit.checkpointIfDue(), false);
        clock.advance(60_000);
        assert.equal(await audit.checkpointIfDue(), true);
        assert.deepEqual(
          (await listCheckpoints(store.db)).map((c) => c.seq),
          [2],
        );
        assert.equal((await audit.verify()).ok, true);
      } finally {
        await audit.close();
        await store.close();
      }
    });

    it('lists newest first pages and exports every entry as JSON lines and CEF', async () => {
      const store = await tdb.open();
      const audit = await service(store);
      try {
        for (let i = 1; i <= 5; i++) await audit.append(entry(i, { actor: i % 2 ? 'user:alice' : 'user:bob' }));
        assert.deepEqual(
          (await audit.list({ limit: 2 })).map((e) => e.seq),
          [4, 5],
        );
        assert.deepEqual(
          (await audit.list({ actor: 'user:bob', limit: 10 })).map((e) => e.seq),
          [2, 4],
        );
        assert.deepEqual(
          (await audit.list({ after: 3, limit: 10 })).map((e) => e.seq),
          [4, 5],
        );
        const jsonl: string[] = [];
        for await (const line of audit.exportLines('jsonl')) jsonl.push(line);
        assert.equal(jsonl.length, 5);
        assert.ok(jsonl.every((l) => l.endsWith('\n')));
        assert.deepEqual(
          jsonl.map((l) => (JSON.parse(l) as { seq: number }).seq),
          [1, 2, 3, 4, 5],
        );
        const cef: string[] = [];
        for await (const line of audit.exportLines('cef')) cef.push(line);
        assert.ok(cef.every((l) => l.startsWith('CEF:0|Bulwark|Bulwark|')));
      } finally {
        await audit.close();
        await store.close();
      }
    });
  });
}
