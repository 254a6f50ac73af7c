import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { normaliseSerial } from '../core/ids.js';
import { createRootCa } from './ca.js';
import { createCrl } from './crl.js';
import { x509 } from './provider.js';

const T0 = Date.UTC(2026, 0, 1);
const DAY = 86_400_000;

function opensslAvailable(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

test('a CRL lists the revoked serials, is signed by the CA and parses in OpenSSL', async (t) => {
  const ca = await createRootCa({ clusterName: 'prod', notBefore: T0 - DAY, notAfter: T0 + 365 * DAY });
  // Odd length, a leading zero, and a top bit that needs a sign byte.
  const serials = ['abc', '0f0e', 'ff01', '1234567890abcdef1234567890abcdef'];
  const pem = await createCrl(ca, {
    revoked: [...serials.map((serial) => ({ serial, revokedAt: T0 })), { serial: 'ABC', revokedAt: T0 - 1000 }],
    thisUpdate: T0,
    nextUpdate: T0 + DAY,
    crlNumber: 7,
  });
  assert.match(pem, /^-----BEGIN X509 CRL-----\n[\s\S]+\n-----END X509 CRL-----\n$/);
  const crl = new x509.X509Crl(pem);
  assert.equal(await crl.verify({ publicKey: new x509.X509Certificate(ca.certPem) }), true);
  assert.deepEqual(crl.entries.map((e) => normaliseSerial(e.serialNumber)).sort(), serials.map(normaliseSerial).sort());
  assert.equal(crl.findRevoked('abc')?.revocationDate.getTime(), T0 - 1000);
  assert.equal(crl.thisUpdate.getTime(), T0);
  assert.equal(crl.nextUpdate?.getTime(), T0 + DAY);
  assert.equal(crl.issuer, new X509Certificate(ca.certPem).subject.split('\n').join(', '));

  if (!opensslAvailable()) {
    t.diagnostic('openssl is not installed: skipping the OpenSSL parse check');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-crl-'));
  try {
    writeFileSync(join(dir, 'crl.pem'), pem);
    writeFileSync(join(dir, 'ca.pem'), ca.certPem);
    const text = execFileSync('openssl', ['crl', '-in', join(dir, 'crl.pem'), '-noout', '-text'], { encoding: 'utf8' });
    const listed = [...text.matchAll(/Serial Number: ([0-9A-F]+)/g)].map((m) => normaliseSerial(m[1] ?? ''));
    assert.deepEqual(listed.sort(), serials.map(normaliseSerial).sort());
    assert.match(text, /CRL Number:\s*\n\s*7\b/);
    const verified = execFileSync('openssl', ['crl', '-in', join(dir, 'crl.pem'), '-CAfile', join(dir, 'ca.pem'), '-noout'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    assert.equal(verified, '');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('CRL numbers with the top bit set stay positive', async () => {
  const ca = await createRootCa({ clusterName: 'prod', notBefore: T0 - DAY, notAfter: T0 + DAY });
  for (const crlNumber of [0, 127, 128, 255, 256, 2 ** 40]) {
    const pem = await createCrl(ca, { revoked: [], thisUpdate: T0, nextUpdate: T0 + DAY, crlNumber });
    const ext = new x509.X509Crl(pem).extensions.find((e) => e.type === '2.5.29.20');
    const value = Buffer.from(ext?.value ?? new ArrayBuffer(0));
    assert.equal(value[0], 0x02);
    assert.equal(BigInt(`0x${value.subarray(2).toString('hex')}`), BigInt(crlNumber));
    assert.equal((value[2] ?? 0) & 0x80, 0);
  }
});

test('bad CRL inputs are refused', async () => {
  const ca = await createRootCa({ clusterName: 'prod', notBefore: T0 - DAY, notAfter: T0 + DAY });
  const base = { revoked: [], thisUpdate: T0, nextUpdate: T0 + DAY, crlNumber: 1 };
  await assert.rejects(createCrl(ca, { ...base, crlNumber: -1 }), { code: 'BAD_REQUEST' });
  await assert.rejects(createCrl(ca, { ...base, nextUpdate: T0 }), { code: 'BAD_REQUEST' });
  await assert.rejects(createCrl(ca, { ...base, revoked: [{ serial: 'xyz', revokedAt: T0 }] }), { code: 'BAD_REQUEST' });
});
