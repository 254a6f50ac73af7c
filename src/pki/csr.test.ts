import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import { createCsr, verifyCsr } from './csr.js';
import { SIGNING_ALGORITHM, subtle, x509 } from './provider.js';

function derOf(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s/g, ''), 'base64');
}

function pemOf(der: Buffer, label = 'CERTIFICATE REQUEST'): string {
  return `-----BEGIN ${label}-----\n${der.toString('base64').match(/.{1,64}/g)?.join('\n')}\n-----END ${label}-----\n`;
}

test('a CSR made here verifies and yields its P-256 public key', async () => {
  const { csrPem, keyPem } = await createCsr({ commonName: 'node-1' });
  assert.match(csrPem, /^-----BEGIN CERTIFICATE REQUEST-----\n/);
  assert.equal(createPrivateKey(keyPem).asymmetricKeyDetails?.namedCurve, 'prime256v1');
  const key = await verifyCsr(csrPem);
  assert.equal(key.type, 'public');
  assert.deepEqual(key.algorithm, { name: 'ECDSA', namedCurve: 'P-256' });
});

test('a CSR whose bytes were tampered with is INVALID_CSR', async () => {
  const { csrPem } = await createCsr({ commonName: 'node-1' });
  const der = derOf(csrPem);
  const at = der.indexOf(Buffer.from('node-1'));
  assert.ok(at > 0);
  der[at] = 'm'.charCodeAt(0);
  await assert.rejects(verifyCsr(pemOf(der)), { code: 'INVALID_CSR', message: /signature/ });
});

test('a CSR with a flipped signature byte is INVALID_CSR', async () => {
  const { csrPem } = await createCsr({ commonName: 'node-1' });
  const der = derOf(csrPem);
  der[der.length - 5] = (der[der.length - 5] ?? 0) ^ 0x01;
  await assert.rejects(verifyCsr(pemOf(der)), { code: 'INVALID_CSR' });
});

test('garbage, a wrong PEM label and truncated DER are INVALID_CSR', async () => {
  const { csrPem } = await createCsr({ commonName: 'node-1' });
  await assert.rejects(verifyCsr(''), { code: 'INVALID_CSR' });
  await assert.rejects(verifyCsr('not a csr'), { code: 'INVALID_CSR' });
  await assert.rejects(verifyCsr(csrPem.replace(/CERTIFICATE REQUEST/g, 'CERTIFICATE')), { code: 'INVALID_CSR' });
  await assert.rejects(verifyCsr(pemOf(derOf(csrPem).subarray(0, 40))), { code: 'INVALID_CSR' });
  await assert.rejects(verifyCsr(pemOf(Buffer.from('hello world'))), { code: 'INVALID_CSR' });
  await assert.rejects(verifyCsr(csrPem + csrPem), { code: 'INVALID_CSR' });
});

test('a CSR with a P-384 key is INVALID_CSR', async () => {
  const keys = await subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-384' }, true, ['sign', 'verify']);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: 'CN=x', keys, signingAlgorithm: SIGNING_ALGORITHM });
  await assert.rejects(verifyCsr(pemOf(Buffer.from(csr.rawData))), { code: 'INVALID_CSR', message: /P-256/ });
});

test('a CSR with an RSA key is INVALID_CSR', async () => {
  const alg = { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' };
  const keys = await subtle.generateKey(alg, true, ['sign', 'verify']);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: 'CN=x', keys, signingAlgorithm: alg });
  await assert.rejects(verifyCsr(pemOf(Buffer.from(csr.rawData))), { code: 'INVALID_CSR' });
});
