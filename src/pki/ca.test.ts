import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { createRootCa } from './ca.js';

const T0 = Date.UTC(2026, 0, 1);
const YEAR = 365 * 86_400_000;

test('the root CA is a self-signed P-256 CA named after the cluster', async () => {
  const ca = await createRootCa({ clusterName: 'prod', notBefore: T0, notAfter: T0 + 10 * YEAR });
  const cert = new X509Certificate(ca.certPem);
  assert.equal(cert.ca, true);
  assert.equal(cert.subject, 'O=Bulwark\nCN=Bulwark CA prod');
  assert.equal(cert.issuer, cert.subject);
  assert.equal(cert.verify(cert.publicKey), true);
  assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  assert.equal(Date.parse(cert.validFrom), T0);
  assert.equal(Date.parse(cert.validTo), T0 + 10 * YEAR);
  assert.equal(cert.checkPrivateKey((await import('node:crypto')).createPrivateKey(ca.keyPem)), true);
  assert.match(ca.keyPem, /^-----BEGIN PRIVATE KEY-----\n/);
});

test('a cluster name cannot inject attributes into the CA subject', async () => {
  const ca = await createRootCa({ clusterName: 'x, O=Evil', notBefore: T0, notAfter: T0 + YEAR });
  const cert = new X509Certificate(ca.certPem);
  assert.equal(cert.subject.split('\n').filter((line) => line.startsWith('O=')).length, 1);
});

test('two CAs get different serials and keys', async () => {
  const a = await createRootCa({ clusterName: 'a', notBefore: T0, notAfter: T0 + YEAR });
  const b = await createRootCa({ clusterName: 'a', notBefore: T0, notAfter: T0 + YEAR });
  assert.notEqual(new X509Certificate(a.certPem).serialNumber, new X509Certificate(b.certPem).serialNumber);
  assert.notEqual(a.keyPem, b.keyPem);
});

test('a CA whose validity ends before it starts is refused', async () => {
  await assert.rejects(createRootCa({ clusterName: 'a', notBefore: T0, notAfter: T0 }), { code: 'BAD_REQUEST' });
});
