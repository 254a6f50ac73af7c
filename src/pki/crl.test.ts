import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { normaliseSerial } from '../core/ids.js';
import { createRootCa, type CaMaterial } from './ca.js';
import { createCrl } from './crl.js';
import { certificateSubject, children, readElement } from './der.js';
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

/** OpenSSL's text dump of a CRL and its answer to verifying it against the CA. */
function openssl(pem: string, ca: CaMaterial): { text: string; verify: string; status: number | null } {
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-crl-'));
  try {
    writeFileSync(join(dir, 'crl.pem'), pem);
    writeFileSync(join(dir, 'ca.pem'), ca.certPem);
    const text = execFileSync('openssl', ['crl', '-inform', 'PEM', '-in', join(dir, 'crl.pem'), '-noout', '-text'], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
    const verified = spawnSync('openssl', ['crl', '-in', join(dir, 'crl.pem'), '-CAfile', join(dir, 'ca.pem'), '-noout'], { encoding: 'utf8' });
    return { text, verify: `${verified.stdout}${verified.stderr}`, status: verified.status };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The fields of the TBSCertList of a PEM CRL, as DER elements over its bytes. */
function tbsFields(pem: string): { der: Buffer; fields: ReturnType<typeof children> } {
  // Not decodePem: its size cap is for uploads, and a CRL of thousands of entries is larger.
  const der = Buffer.from(pem.replace(/-----(BEGIN|END) X509 CRL-----|\s/g, ''), 'base64');
  const top = readElement(der, 0);
  assert.equal(top.end, der.length, 'nothing follows the CertificateList');
  const [tbs, algorithm, signature] = children(der, top);
  assert.ok(tbs && algorithm && signature);
  assert.equal(signature.tag, 0x03);
  return { der, fields: children(der, tbs) };
}

test('a CRL lists the revoked serials, is signed by the CA and parses in OpenSSL', async (t) => {
  const ca = await createRootCa({ clusterName: 'prod', notBefore: T0 - DAY, notAfter: T0 + 365 * DAY });
  // Short, odd length, a leading zero, a top bit that needs a sign byte, and long.
  const serials = ['1', 'abc', '0f0e', 'ff01', '80', '1234567890abcdef1234567890abcdef'];
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
  assert.equal(crl.version, 1, 'v2 is encoded as INTEGER 1');

  // The issuer is the CA subject byte for byte, and no entry carries an empty crlEntryExtensions.
  const { der, fields } = tbsFields(pem);
  const issuer = fields[2];
  assert.ok(issuer);
  assert.deepEqual(der.subarray(issuer.start, issuer.end), certificateSubject(new X509Certificate(ca.certPem).raw));
  const list = fields[5];
  assert.equal(list?.tag, 0x30);
  const entries = children(der, list);
  assert.equal(entries.length, serials.length);
  for (const entry of entries) assert.equal(children(der, entry).length, 2);
  const ff01 = entries.map((e) => children(der, e)[0]).find((serial) => serial && der.subarray(serial.contentStart, serial.end).toString('hex') === '00ff01');
  assert.ok(ff01, 'serial ff01 is encoded as the positive INTEGER 00 ff 01');

  if (!opensslAvailable()) {
    t.diagnostic('openssl is not installed: skipping the OpenSSL checks');
    return;
  }
  const { text, verify, status } = openssl(pem, ca);
  const listed = [...text.matchAll(/Serial Number: ([0-9A-F]+)/g)].map((m) => normaliseSerial(m[1] ?? ''));
  assert.deepEqual(listed.sort(), serials.map(normaliseSerial).sort());
  assert.match(text, /Version 2 \(0x1\)/);
  assert.match(text, /Signature Algorithm: ecdsa-with-SHA256/);
  assert.match(text, /CRL Number:\s*\n\s*7\b/);
  assert.match(text, /Authority Key Identifier:/);
  assert.match(text, /Last Update: Jan {2}1 00:00:00 2026 GMT/);
  assert.match(text, /Next Update: Jan {2}2 00:00:00 2026 GMT/);
  assert.equal(status, 0, verify);
  assert.match(verify, /verify OK/);
});

test('the CRL names the CA key by its subjectKeyIdentifier', async () => {
  const ca = await createRootCa({ clusterName: 'prod', notBefore: T0 - DAY, notAfter: T0 + DAY });
  const crl = new x509.X509Crl(await createCrl(ca, { revoked: [], thisUpdate: T0, nextUpdate: T0 + DAY, crlNumber: 1 }));
  const aki = crl.getExtension(x509.AuthorityKeyIdentifierExtension);
  const ski = new x509.X509Certificate(ca.certPem).getExtension(x509.SubjectKeyIdentifierExtension);
  assert.ok(aki?.keyId && ski?.keyId);
  assert.equal(aki.keyId, ski.keyId);
  assert.equal(aki.critical, false);
});

test('an empty CRL has no revokedCertificates field and verifies', async (t) => {
  const ca = await createRootCa({ clusterName: 'prod', notBefore: T0 - DAY, notAfter: T0 + DAY });
  const pem = await createCrl(ca, { revoked: [], thisUpdate: T0, nextUpdate: T0 + DAY, crlNumber: 3 });
  const { fields } = tbsFields(pem);
  // version, signature, issuer, thisUpdate, nextUpdate, [0] crlExtensions: no empty SEQUENCE between.
  assert.deepEqual(
    fields.map((f) => f.tag),
    [0x02, 0x30, 0x30, 0x17, 0x17, 0xa0],
  );
  const crl = new x509.X509Crl(pem);
  assert.equal(crl.entries.length, 0);
  assert.equal(await crl.verify({ publicKey: new x509.X509Certificate(ca.certPem) }), true);
  if (!opensslAvailable()) {
    t.diagnostic('openssl is not installed: skipping the OpenSSL checks');
    return;
  }
  const { text, verify, status } = openssl(pem, ca);
  assert.match(text, /No Revoked Certificates/);
  assert.equal(status, 0, verify);
  assert.match(verify, /verify OK/);
});

test('times from 2050 are GeneralizedTime, earlier ones UTCTime', async (t) => {
  const thisUpdate = Date.UTC(2049, 11, 31, 23, 0, 0);
  const nextUpdate = Date.UTC(2050, 0, 1, 1, 2, 3);
  const ca = await createRootCa({ clusterName: 'prod', notBefore: T0, notAfter: Date.UTC(2051, 0, 1) });
  const pem = await createCrl(ca, { revoked: [{ serial: '01', revokedAt: nextUpdate - 1 }], thisUpdate, nextUpdate, crlNumber: 1 });
  const { der, fields } = tbsFields(pem);
  const [, , , last, next] = fields;
  assert.ok(last && next);
  assert.equal(last.tag, 0x17);
  assert.equal(der.subarray(last.contentStart, last.end).toString('ascii'), '491231230000Z');
  assert.equal(next.tag, 0x18);
  assert.equal(der.subarray(next.contentStart, next.end).toString('ascii'), '20500101010203Z');
  const crl = new x509.X509Crl(pem);
  assert.equal(crl.thisUpdate.getTime(), thisUpdate);
  assert.equal(crl.nextUpdate?.getTime(), nextUpdate);
  assert.equal(crl.entries[0]?.revocationDate.getTime(), nextUpdate - 1000);
  if (!opensslAvailable()) {
    t.diagnostic('openssl is not installed: skipping the OpenSSL checks');
    return;
  }
  const { text } = openssl(pem, ca);
  assert.match(text, /Next Update: Jan {2}1 01:02:03 2050 GMT/);
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
  await assert.rejects(createCrl(ca, { ...base, crlNumber: 1.5 }), { code: 'BAD_REQUEST' });
  await assert.rejects(createCrl(ca, { ...base, nextUpdate: T0 }), { code: 'BAD_REQUEST' });
  await assert.rejects(createCrl(ca, { ...base, revoked: [{ serial: 'xyz', revokedAt: T0 }] }), { code: 'BAD_REQUEST' });
  await assert.rejects(createCrl(ca, { ...base, revoked: [{ serial: '01', revokedAt: -1 }] }), { code: 'BAD_REQUEST' });
  await assert.rejects(createCrl({ ...ca, keyPem: (await createRootCa({ clusterName: 'other', notBefore: T0, notAfter: T0 + DAY })).keyPem }, base), {
    code: 'KEY_FILE_INVALID',
  });
});

test('a CRL of 20,000 entries builds in one call', async () => {
  const ca = await createRootCa({ clusterName: 'prod', notBefore: T0 - DAY, notAfter: T0 + DAY });
  await createCrl(ca, { revoked: [], thisUpdate: T0, nextUpdate: T0 + DAY, crlNumber: 1 });
  const revoked = Array.from({ length: 20_000 }, (_, i) => ({ serial: (0x8000_0000_0000 + i * 7919).toString(16), revokedAt: T0 - i }));
  const started = performance.now();
  const pem = await createCrl(ca, { revoked, thisUpdate: T0, nextUpdate: T0 + DAY, crlNumber: 2 });
  const ms = performance.now() - started;
  console.log(`CRL of 20,000 entries built in ${ms.toFixed(1)} ms`);
  const { der, fields } = tbsFields(pem);
  const list = fields[5];
  assert.ok(list);
  assert.equal(children(der, list).length, 20_000);
  if (opensslAvailable()) {
    const { verify, status } = openssl(pem, ca);
    assert.equal(status, 0, verify);
    assert.match(verify, /verify OK/);
  }
});
