// Proposed src/server/pki-service.test.ts (kept out of the tree: not in this helper's allowed files).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../core/clock.js';
import { createRootCa } from '../pki/ca.js';
import { x509 } from '../pki/provider.js';
import { openStore } from '../store/open.js';
import { insertCertificate, revokeCertificate } from '../store/certificates.js';
import { PkiService } from './pki-service.js';

const DAY = 86_400_000;

test('crlPem caches for a minute, rebuilds after revocationsChanged, shares a build in flight, drops expired', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'bulwark-pki-'));
  const store = await openStore({ url: join(dir, 'b.db') });
  try {
    const clock = new ManualClock();
    const t0 = clock.now();
    const ca = await createRootCa({ clusterName: 'prod', notBefore: t0 - DAY, notAfter: t0 + 365 * DAY });
    const pki = new PkiService({ ca, clusterName: 'prod', store, clock, nodeLifetimeMs: DAY });
    const rec = (serial: string, notAfter: number) => ({ serial, nodeId: 'n', fingerprint: `f${serial}`, notBefore: t0 - DAY, notAfter, issuedAt: t0 - DAY, revokedAt: null, revokeReason: null });
    await insertCertificate(store.db, rec('aa', t0 + DAY));
    await insertCertificate(store.db, rec('bb', t0 - 1)); // already expired
    await revokeCertificate(store.db, 'aa', t0, 'x');
    await revokeCertificate(store.db, 'bb', t0, 'x');

    // Concurrent callers share one build (ECDSA signatures differ between builds).
    const all = await Promise.all([pki.crlPem(), pki.crlPem(), pki.crlPem()]);
    assert.equal(new Set(all).size, 1);
    const first = all[0]!;
    assert.deepEqual(new x509.X509Crl(first).entries.map((e) => e.serialNumber), ['aa']);

    // A revocation elsewhere does not show within the minute...
    await insertCertificate(store.db, rec('cc', t0 + DAY));
    await revokeCertificate(store.db, 'cc', t0, 'x');
    clock.advance(59_000);
    assert.equal(await pki.crlPem(), first);
    // ...but does after it.
    clock.advance(1_000);
    const second = await pki.crlPem();
    assert.notEqual(second, first);
    assert.deepEqual(new x509.X509Crl(second).entries.map((e) => e.serialNumber), ['aa', 'cc']);
    assert.equal(await pki.crlPem(), second);

    // A local revocation shows at once.
    await insertCertificate(store.db, rec('dd', t0 + DAY));
    await revokeCertificate(store.db, 'dd', t0, 'x');
    pki.revocationsChanged();
    const third = await pki.crlPem();
    assert.deepEqual(new x509.X509Crl(third).entries.map((e) => e.serialNumber), ['aa', 'cc', 'dd']);

    // A revocation during a build: the callers after it wait for a fresh build, not the stale one.
    await insertCertificate(store.db, rec('ee', t0 + DAY));
    pki.revocationsChanged();
    const during = pki.crlPem();
    await revokeCertificate(store.db, 'ee', t0, 'x');
    pki.revocationsChanged();
    const [a, b] = await Promise.all([pki.crlPem(), pki.crlPem()]);
    await during;
    assert.equal(a, b);
    assert.deepEqual(new x509.X509Crl(a).entries.map((e) => e.serialNumber), ['aa', 'cc', 'dd', 'ee']);

    // nextUpdate stays an hour after the build.
    const crl = new x509.X509Crl(a);
    assert.equal(crl.nextUpdate!.getTime() - crl.thisUpdate.getTime(), 3_600_000 + 60_000);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});
