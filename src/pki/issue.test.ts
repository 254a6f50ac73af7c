import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { normaliseSerial } from '../core/ids.js';
import { createRootCa, type CaMaterial } from './ca.js';
import { createCsr } from './csr.js';
import { certificateInfo } from './identity.js';
import { issueNodeCertificate, issueServerCertificate } from './issue.js';
import { SIGNING_ALGORITHM, x509, subtle } from './provider.js';

const T0 = Date.UTC(2026, 0, 1);
const DAY = 86_400_000;

const caPromise = createRootCa({ clusterName: 'prod', notBefore: T0 - DAY, notAfter: T0 + 3650 * DAY });

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function opensslVerify(ca: CaMaterial, leafPem: string, purpose: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-pki-'));
  try {
    writeFileSync(join(dir, 'ca.pem'), ca.certPem);
    writeFileSync(join(dir, 'leaf.pem'), leafPem);
    // -attime: the certificates are dated around T0, not around the machine's clock.
    const args = ['verify', '-attime', String(T0 / 1000 + 3600), '-purpose', purpose, '-CAfile', join(dir, 'ca.pem'), join(dir, 'leaf.pem')];
    return execFileSync('openssl', args, { encoding: 'utf8' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function nodeCert(nodeId = 'node_abc', csrPem?: string) {
  const ca = await caPromise;
  const csr = csrPem ?? (await createCsr({ commonName: nodeId })).csrPem;
  return issueNodeCertificate(ca, { csrPem: csr, clusterName: 'prod', nodeId, notBefore: T0, notAfter: T0 + DAY });
}

test('a node certificate chains to the CA and carries the assigned SPIFFE identity', async () => {
  const ca = await caPromise;
  const issued = await nodeCert();
  const cert = new X509Certificate(issued.certPem);
  const caCert = new X509Certificate(ca.certPem);
  assert.equal(cert.verify(caCert.publicKey), true);
  assert.equal(cert.checkIssued(caCert), true);
  assert.equal(cert.ca, false);
  assert.equal(cert.subject, 'CN=node_abc');
  assert.equal(cert.subjectAltName, 'URI:spiffe://prod/node/node_abc');
  assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.2']);
  assert.equal(issued.notBefore, T0);
  assert.equal(issued.notAfter, T0 + DAY);
  assert.equal(Date.parse(cert.validTo), T0 + DAY);
  assert.equal(issued.fingerprint, cert.fingerprint256.replace(/:/g, '').toLowerCase());
});

test('the identity a CSR asks for is ignored', async () => {
  const keys = await subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: 'CN=evil',
    keys,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: 'spiffe://other/node/x' }, { type: 'dns', value: 'evil.example' }])],
  });
  const issued = await nodeCert('node_assigned', csr.toString('pem'));
  const info = certificateInfo(issued.certPem);
  assert.equal(info.subject, 'CN=node_assigned');
  assert.deepEqual(info.uris, ['spiffe://prod/node/node_assigned']);
  assert.equal(new X509Certificate(issued.certPem).subjectAltName, 'URI:spiffe://prod/node/node_assigned');
});

test('the returned serial is the one in the certificate, for many random serials', async () => {
  const ca = await caPromise;
  const { csrPem } = await createCsr({ commonName: 'n' });
  for (let i = 0; i < 40; i++) {
    const issued = await issueNodeCertificate(ca, { csrPem, clusterName: 'prod', nodeId: 'node_s', notBefore: T0, notAfter: T0 + DAY });
    assert.equal(normaliseSerial(new X509Certificate(issued.certPem).serialNumber), issued.serial);
    assert.equal(new x509.X509Certificate(issued.certPem).serialNumber.replace(/^0+/, ''), issued.serial);
    assert.match(issued.serial, /^[1-9a-f][0-9a-f]*$/);
  }
  const server = await issueServerCertificate(ca, { commonName: 's', dnsNames: ['s'], ipAddresses: [], notBefore: T0, notAfter: T0 + DAY });
  assert.equal(normaliseSerial(new X509Certificate(server.certPem).serialNumber), server.serial);
});

test('a server certificate carries DNS, IPv4 and IPv6 names and a chain ending in the CA', async () => {
  const ca = await caPromise;
  const issued = await issueServerCertificate(ca, {
    commonName: 'bulwark',
    dnsNames: ['bulwark.example', 'localhost'],
    ipAddresses: ['127.0.0.1', '::1', '2001:db8::7'],
    notBefore: T0,
    notAfter: T0 + 90 * DAY,
  });
  const cert = new X509Certificate(issued.certPem);
  assert.equal(cert.verify(new X509Certificate(ca.certPem).publicKey), true);
  assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.1']);
  assert.equal(cert.checkHost('bulwark.example'), 'bulwark.example');
  assert.equal(cert.checkIP('127.0.0.1'), '127.0.0.1');
  assert.equal(cert.checkIP('::1'), '::1');
  assert.equal(cert.checkIP('2001:db8::7'), '2001:db8::7');
  assert.equal(cert.checkIP('10.0.0.1'), undefined);
  const blocks = issued.chainPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  assert.equal(blocks.length, 2);
  assert.equal(new X509Certificate(blocks[0] ?? '').fingerprint256, cert.fingerprint256);
  assert.equal(new X509Certificate(blocks[1] ?? '').fingerprint256, new X509Certificate(ca.certPem).fingerprint256);
});

test('server certificate inputs are validated', async () => {
  const ca = await caPromise;
  const base = { commonName: 's', dnsNames: ['ok'], ipAddresses: [], notBefore: T0, notAfter: T0 + DAY };
  await assert.rejects(issueServerCertificate(ca, { ...base, ipAddresses: ['999.1.1.1'] }), { code: 'BAD_REQUEST' });
  await assert.rejects(issueServerCertificate(ca, { ...base, dnsNames: ['bad name'] }), { code: 'BAD_REQUEST' });
  await assert.rejects(issueServerCertificate(ca, { ...base, dnsNames: [] }), { code: 'BAD_REQUEST' });
});

test('a certificate from another CA does not verify against this one', async () => {
  const other = await createRootCa({ clusterName: 'prod', notBefore: T0 - DAY, notAfter: T0 + 365 * DAY });
  const { csrPem } = await createCsr({ commonName: 'n' });
  const foreign = await issueNodeCertificate(other, { csrPem, clusterName: 'prod', nodeId: 'node_f', notBefore: T0, notAfter: T0 + DAY });
  const ca = await caPromise;
  assert.equal(new X509Certificate(foreign.certPem).verify(new X509Certificate(ca.certPem).publicKey), false);
});

test('a CA whose key does not match its certificate is refused', async () => {
  const ca = await caPromise;
  const other = await createRootCa({ clusterName: 'prod', notBefore: T0, notAfter: T0 + DAY });
  const { csrPem } = await createCsr({ commonName: 'n' });
  await assert.rejects(
    issueNodeCertificate({ certPem: ca.certPem, keyPem: other.keyPem }, { csrPem, clusterName: 'prod', nodeId: 'n', notBefore: T0, notAfter: T0 + DAY }),
    { code: 'KEY_FILE_INVALID' },
  );
});

test('a garbage CSR is INVALID_CSR', async () => {
  const ca = await caPromise;
  await assert.rejects(
    issueNodeCertificate(ca, { csrPem: 'hello', clusterName: 'prod', nodeId: 'n', notBefore: T0, notAfter: T0 + DAY }),
    { code: 'INVALID_CSR' },
  );
});

test('OpenSSL verifies node and server certificates against the CA', async (t) => {
  if (!hasOpenssl()) {
    t.skip('openssl is not installed');
    return;
  }
  const ca = await caPromise;
  const node = await nodeCert();
  assert.match(opensslVerify(ca, node.certPem, 'sslclient'), /: OK/);
  const server = await issueServerCertificate(ca, { commonName: 's', dnsNames: ['localhost'], ipAddresses: ['::1'], notBefore: T0, notAfter: T0 + DAY });
  assert.match(opensslVerify(ca, server.certPem, 'sslserver'), /: OK/);
});
