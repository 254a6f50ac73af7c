import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { fastify, type FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { ManualClock } from '../../core/clock.js';
import { BulwarkError, errorBody, isBulwarkError } from '../../core/errors.js';
import { silentLogger } from '../../core/logger.js';
import { AuditClient } from '../../client/audit-client.js';
import { ephemeralCipher } from '../../keyring/record-cipher.js';
import { createRootCa } from '../../pki/ca.js';
import { issueServerCertificate } from '../../pki/issue.js';
import { registerAuditRoutes } from '../../server/api/routes/audit.js';
import { loadOrCreateAuditKey } from '../../server/audit-key.js';
import { AuditLogService } from '../../server/audit-log-service.js';
import { openStore } from '../../store/open.js';
import type { Store } from '../../store/store.js';
import { parseTimeFlag } from './auditlog.js';

describe('auditlog --since/--until', () => {
  const now = Date.UTC(2026, 0, 31, 12);
  it('reads a duration back from now or an ISO time', () => {
    assert.equal(parseTimeFlag('--since', '1h', now), now - 3_600_000);
    assert.equal(parseTimeFlag('--since', '7d', now), now - 7 * 86_400_000);
    assert.equal(parseTimeFlag('--since', '2026-01-31T10:00:00Z', now), Date.UTC(2026, 0, 31, 10));
    assert.equal(parseTimeFlag('--since', '2026-01-30', now), Date.UTC(2026, 0, 30));
  });
  it('refuses anything else with BAD_REQUEST', () => {
    for (const text of ['yesterday', '1 hour', '', '12', '2026-13-45']) {
      assert.throws(() => parseTimeFlag('--since', text, now), (err: unknown) => isBulwarkError(err) && err.code === 'BAD_REQUEST', text);
    }
  });
});

describe('audit API and client over HTTPS', () => {
  let store: Store;
  let audit: AuditLogService;
  let app: FastifyInstance;
  let client: AuditClient;

  before(async () => {
    store = await openStore({ url: ':memory:' });
    const clock = new ManualClock();
    audit = new AuditLogService({ store, clock, key: await loadOrCreateAuditKey(store, ephemeralCipher(), clock), log: silentLogger });
    const now = Date.now();
    const ca = await createRootCa({ clusterName: 'test', notBefore: now - 60_000, notAfter: now + 86_400_000 });
    const leaf = await issueServerCertificate(ca, { commonName: '127.0.0.1', dnsNames: [], ipAddresses: ['127.0.0.1'], notBefore: now - 60_000, notAfter: now + 86_400_000 });
    app = fastify({ https: { cert: leaf.chainPem, key: leaf.keyPem } }) as unknown as FastifyInstance;
    app.setValidatorCompiler(validatorCompiler);
    app.setSerializerCompiler(serializerCompiler);
    // The one error mapping of the real app, reduced to what these routes raise.
    app.setErrorHandler((err, _request, reply) => {
      const mapped = isBulwarkError(err) ? err : new BulwarkError('BAD_REQUEST', err instanceof Error ? err.message : String(err));
      return reply.status(mapped.status).send(errorBody(mapped));
    });
    registerAuditRoutes(app, { audit });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as AddressInfo;
    client = new AuditClient({ baseUrl: `https://127.0.0.1:${port}`, token: 't', caPem: ca.certPem });
    for (let i = 1; i <= 30; i++) {
      await audit.append({
        actor: i % 3 ? 'user:alice' : 'user:bob',
        action: 'nodes.read',
        resource: `nodes/n${i}`,
        decision: 'allow',
        source: '127.0.0.1',
        requestId: `r${i}`,
        outcome: 'success',
        details: { note: i === 7 ? 'a|b=c\nd' : 'ok' },
      });
    }
  });

  after(async () => {
    await app.close();
    await audit.close();
    await store.close();
  });

  it('lists with filters', async () => {
    assert.deepEqual(
      (await client.list({ limit: 3 })).map((e) => e.seq),
      [28, 29, 30],
    );
    assert.deepEqual(
      (await client.list({ actor: 'user:bob', after: 20 })).map((e) => e.seq),
      [21, 24, 27, 30],
    );
  });

  it('refuses a limit over 1000', async () => {
    await assert.rejects(client.list({ limit: 1001 }), (err: unknown) => isBulwarkError(err) && err.code === 'BAD_REQUEST');
  });

  it('verifies', async () => {
    assert.deepEqual(await client.verify(), { ok: true, entries: 30, checkpoints: 0, lastSeq: 30, keyId: audit.keyId });
    await store.db.updateTable('audit_entries').set({ actor: 'user:mallory' }).where('seq', '=', 12).execute();
    const bad = await client.verify();
    assert.equal(bad.ok, false);
    if (!bad.ok) assert.deepEqual({ seq: bad.firstBad.seq, kind: bad.firstBad.kind }, { seq: 12, kind: 'modified' });
    await store.db.updateTable('audit_entries').set({ actor: 'user:bob' }).where('seq', '=', 12).execute();
    assert.equal((await client.verify()).ok, true);
  });

  it('streams exports line by line', async () => {
    const jsonl: string[] = [];
    for await (const line of client.export('jsonl')) jsonl.push(line);
    assert.equal(jsonl.length, 30);
    assert.deepEqual(
      jsonl.map((l) => (JSON.parse(l) as { seq: number }).seq),
      Array.from({ length: 30 }, (_, i) => i + 1),
    );
    const cef: string[] = [];
    for await (const line of client.export('cef')) cef.push(line);
    assert.equal(cef.length, 30);
    assert.ok(cef[6]?.includes('cs4={"note":"a|b\\=c\\\\nd"}'), cef[6]);
  });
});
