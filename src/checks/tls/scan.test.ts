import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BulwarkError } from '../../core/errors.js';
import { scanTlsEndpoint, scanTlsEndpoints, tlsFindings, type TlsScanResult } from './index.js';
import { closedPort, DAY, startTcpServer, startTlsServer, testPki, weakCertificate, type Endpoint, type TestPki } from './test-endpoints.js';

const NOW = Date.now();

function accepted(result: TlsScanResult): Record<string, string[]> {
  return Object.fromEntries(result.protocols.filter((p) => p.accepted).map((p) => [p.version, p.suites.map((s) => s.name)]));
}

function ruleIds(result: TlsScanResult): string[] {
  return tlsFindings(result).map((f) => f.ruleId).sort();
}

describe('a hardened endpoint (TLS 1.3 only, certificate from the test CA)', () => {
  let pki: TestPki;
  let server: Endpoint;
  before(async () => {
    pki = await testPki(NOW);
    server = await startTlsServer({ key: pki.leaf.keyPem, cert: pki.leaf.chainPem, minVersion: 'TLSv1.3' });
  });
  after(() => server.close());

  test('accepts exactly TLS 1.3 with the three default suites and gives no findings but the clean-endpoint pass', async () => {
    const result = await scanTlsEndpoint({ host: 'localhost', port: server.port }, { now: NOW, ca: [pki.ca.certPem] });
    console.log(`hardened endpoint: ${result.durationMs} ms, ${result.handshakes} handshakes`);
    assert.equal(result.tls, true);
    assert.equal(result.incomplete, undefined);
    assert.equal(result.error, undefined);
    assert.deepEqual(accepted(result), { 'TLSv1.3': ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'] });
    assert.deepEqual(result.protocols.map((p) => p.version), ['SSLv3', 'TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3']);
    // tls.createServer defaults honorCipherOrder to true.
    assert.equal(result.protocols.find((p) => p.version === 'TLSv1.3')?.serverPreference, true);
    const cert = result.certificate;
    assert.ok(cert);
    assert.equal(cert.source, 'node-tls');
    assert.equal(cert.protocol, 'TLSv1.3');
    assert.equal(cert.trusted, true);
    assert.equal(cert.trustError, undefined);
    assert.equal(cert.hostname, 'localhost');
    assert.equal(cert.hostnameMatches, true);
    assert.equal(cert.selfSigned, false);
    assert.deepEqual(cert.key, { type: 'EC', curve: 'prime256v1', bits: 256 });
    assert.equal(cert.chain[0]?.subject, 'CN=localhost');
    assert.equal(cert.chain[0]?.signatureAlgorithm, 'ecdsa-with-SHA256');
    assert.equal(cert.chain[0]?.validity, 'valid');
    assert.match(cert.chain[0]?.sha256 ?? '', /^[0-9a-f]{64}$/);
    assert.equal(cert.chain[1]?.subject, 'O=Bulwark, CN=Bulwark CA tls-scan-test');
    assert.deepEqual(ruleIds(result), ['tls-endpoint']);
    await server.idle();
  });

  test('without the CA, for another name and close to expiry: untrusted, hostname mismatch, expiring', async () => {
    const result = await scanTlsEndpoint(
      { host: '127.0.0.1', port: server.port, serverName: 'other.test' },
      { now: NOW + 80 * DAY, expiryWarningDays: 14 },
    );
    const findings = new Map(tlsFindings(result).map((f) => [f.ruleId, f]));
    assert.deepEqual([...findings.keys()].sort(), ['tls-cert-expiring', 'tls-cert-hostname-mismatch', 'tls-cert-untrusted']);
    assert.match(findings.get('tls-cert-untrusted')?.evidence ?? '', /^certificate CN=localhost does not verify against the trust store: [A-Z_]+$/);
    assert.match(findings.get('tls-cert-hostname-mismatch')?.evidence ?? '', /^certificate CN=localhost does not cover other\.test: /);
    assert.match(findings.get('tls-cert-expiring')?.evidence ?? '', /^certificate CN=localhost expires \S+Z \(in (8|9|10) days\)$/);
    assert.equal(findings.get('tls-cert-expiring')?.key, `tls:127.0.0.1:${server.port}/tls-cert-expiring`);
  });
});

describe('a weak endpoint (TLS 1.0–1.2, NULL, anonymous and CBC-SHA1 suites, expired self-signed RSA-1024/SHA-1 certificate)', () => {
  let server: Endpoint;
  before(async () => {
    const weak = await weakCertificate();
    server = await startTlsServer({
      key: weak.keyPem,
      cert: weak.certPem,
      minVersion: 'TLSv1',
      maxVersion: 'TLSv1.2',
      // OpenSSL 3 has no 3DES or RC4 here; NULL, anonymous ECDH and CBC-SHA1 need security level 0.
      ciphers: 'ECDHE-RSA-AES128-SHA:AES128-SHA:NULL-SHA:AECDH-AES128-SHA:@SECLEVEL=0',
      honorCipherOrder: false,
    });
  });
  after(() => server.close());

  test('finds every weakness, naming what it saw', async () => {
    const result = await scanTlsEndpoint({ host: '127.0.0.1', port: server.port, serverName: 'weak.test' }, { now: NOW });
    console.log(`weak endpoint: ${result.durationMs} ms, ${result.handshakes} handshakes`);
    assert.equal(result.tls, true);
    assert.equal(result.incomplete, undefined);
    const suites = ['TLS_RSA_WITH_NULL_SHA', 'TLS_RSA_WITH_AES_128_CBC_SHA', 'TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA', 'TLS_ECDH_anon_WITH_AES_128_CBC_SHA'];
    assert.deepEqual(accepted(result), { TLSv1: suites, 'TLSv1.1': suites, 'TLSv1.2': suites });
    for (const p of result.protocols.filter((x) => x.accepted)) assert.equal(p.serverPreference, false, p.version);
    assert.deepEqual(ruleIds(result), [
      'tls-cert-expired',
      'tls-cert-self-signed',
      'tls-cipher-anon',
      'tls-cipher-cbc-sha1-tls10',
      'tls-cipher-null',
      'tls-key-weak',
      'tls-no-server-preference',
      'tls-protocol-weak',
      'tls-signature-weak',
    ]);
    const findings = new Map(tlsFindings(result).map((f) => [f.ruleId, f]));
    const list = suites.join(', ');
    assert.equal(findings.get('tls-protocol-weak')?.evidence, `TLSv1 accepted: ${list}; TLSv1.1 accepted: ${list}`);
    assert.deepEqual(findings.get('tls-protocol-weak')?.details?.protocols, ['TLSv1', 'TLSv1.1']);
    assert.equal(findings.get('tls-cipher-null')?.evidence, 'TLSv1: TLS_RSA_WITH_NULL_SHA; TLSv1.1: TLS_RSA_WITH_NULL_SHA; TLSv1.2: TLS_RSA_WITH_NULL_SHA');
    assert.equal(findings.get('tls-cipher-anon')?.evidence, 'TLSv1: TLS_ECDH_anon_WITH_AES_128_CBC_SHA; TLSv1.1: TLS_ECDH_anon_WITH_AES_128_CBC_SHA; TLSv1.2: TLS_ECDH_anon_WITH_AES_128_CBC_SHA');
    assert.equal(findings.get('tls-cipher-cbc-sha1-tls10')?.evidence, 'TLSv1: TLS_RSA_WITH_AES_128_CBC_SHA, TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, TLS_ECDH_anon_WITH_AES_128_CBC_SHA');
    assert.equal(findings.get('tls-cert-expired')?.evidence, 'certificate CN=weak.test expired 2020-01-02T00:00:00Z');
    assert.equal(findings.get('tls-cert-self-signed')?.evidence, 'certificate CN=weak.test is self-signed (issuer CN=weak.test)');
    assert.equal(findings.get('tls-key-weak')?.evidence, 'certificate CN=weak.test has a 1024-bit RSA key');
    assert.equal(findings.get('tls-signature-weak')?.evidence, 'certificate CN=weak.test is signed with sha1WithRSAEncryption');
    assert.equal(result.certificate?.source, 'node-tls');
    assert.equal(result.certificate?.protocol, 'TLSv1.2');
    assert.equal(result.certificate?.hostnameMatches, true);
    await server.idle();
  });
});

test('a server Node cannot negotiate with (NULL suites only): the certificate is read from the raw handshake, unverified', async () => {
  const weak = await weakCertificate();
  const server = await startTlsServer({ key: weak.keyPem, cert: weak.certPem, maxVersion: 'TLSv1.2', ciphers: 'NULL-SHA:@SECLEVEL=0' });
  try {
    const result = await scanTlsEndpoint({ host: '127.0.0.1', port: server.port }, { now: NOW });
    assert.deepEqual(accepted(result), { 'TLSv1.2': ['TLS_RSA_WITH_NULL_SHA'] });
    assert.equal(result.certificate?.source, 'handshake');
    assert.equal(result.certificate?.trusted, null);
    assert.equal(result.certificate?.chain[0]?.subject, 'CN=weak.test');
    assert.equal(result.certificate?.hostname, undefined, 'no name, no hostname check');
    assert.deepEqual(ruleIds(result), ['tls-cert-expired', 'tls-cert-self-signed', 'tls-cipher-null', 'tls-key-weak', 'tls-signature-weak']);
  } finally {
    await server.close();
  }
});

test('a TLS 1.3 server without x25519 answers with a HelloRetryRequest, which still counts as accepted', async () => {
  const pki = await testPki(NOW);
  const server = await startTlsServer({ key: pki.leaf.keyPem, cert: pki.leaf.chainPem, minVersion: 'TLSv1.3', ecdhCurve: 'P-256' });
  try {
    const result = await scanTlsEndpoint({ host: 'localhost', port: server.port }, { now: NOW, ca: [pki.ca.certPem] });
    assert.deepEqual(accepted(result), { 'TLSv1.3': ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'] });
  } finally {
    await server.close();
  }
});

test('a TLS server that refuses every hello is TLS, with an error saying so and no findings', async () => {
  const pki = await testPki(NOW);
  // PSK suites without a PSK callback: the server has nothing it can negotiate.
  const server = await startTlsServer({ key: pki.leaf.keyPem, cert: pki.leaf.chainPem, maxVersion: 'TLSv1.2', ciphers: 'PSK-AES128-CBC-SHA' });
  try {
    const result = await scanTlsEndpoint({ host: '127.0.0.1', port: server.port });
    assert.equal(result.tls, true);
    assert.deepEqual(accepted(result), {});
    assert.match(result.error ?? '', /^the server speaks TLS but accepted none of the versions and suites offered \(alert (handshake_failure|protocol_version)/);
    assert.match(result.error ?? '', /serverName/);
    assert.deepEqual(tlsFindings(result), []);
  } finally {
    await server.close();
  }
});

test('a port that speaks SSH is not TLS: no findings, and the banner says why', async () => {
  const server = await startTcpServer((socket) => socket.end('SSH-2.0-x\r\n'));
  try {
    const result = await scanTlsEndpoint({ host: '127.0.0.1', port: server.port });
    assert.equal(result.tls, false);
    assert.deepEqual(result.protocols, []);
    assert.equal(result.certificate, undefined);
    assert.equal(result.error, undefined);
    assert.match(result.notTlsReason ?? '', /SSH-2\.0-x/);
    assert.deepEqual(tlsFindings(result), []);
    await server.idle();
  } finally {
    await server.close();
  }
});

test('a port that closes every connection is not TLS', async () => {
  const server = await startTcpServer((socket) => socket.destroy());
  try {
    const result = await scanTlsEndpoint({ host: '127.0.0.1', port: server.port });
    assert.equal(result.tls, false);
    assert.match(result.notTlsReason ?? '', /connection /);
    assert.deepEqual(tlsFindings(result), []);
  } finally {
    await server.close();
  }
});

test('a closed port gives a result with the connection error, not a hang', async () => {
  const port = await closedPort();
  const result = await scanTlsEndpoint({ host: '127.0.0.1', port });
  assert.equal(result.tls, false);
  assert.match(result.error ?? '', /ECONNREFUSED/);
  assert.deepEqual(tlsFindings(result), []);
});

test('a server that accepts and never answers: the budget ends the scan, marked incomplete, every socket closed', async () => {
  const server = await startTcpServer(() => undefined);
  try {
    const result = await scanTlsEndpoint({ host: '127.0.0.1', port: server.port }, { budgetMs: 300 });
    assert.equal(result.tls, false);
    assert.match(result.incomplete ?? '', /^time budget of 300 ms ran out during: .*TLSv1\.3 probe/);
    assert.ok(server.accepted() >= 5, 'the version probes connected');
    await server.idle();
  } finally {
    await server.close();
  }
});

test("a caller's abort rejects the scan with the caller's reason", async () => {
  const server = await startTcpServer(() => undefined);
  try {
    const controller = new AbortController();
    const scan = scanTlsEndpoint({ host: '127.0.0.1', port: server.port }, { signal: controller.signal });
    setImmediate(() => controller.abort(new Error('stop')));
    await assert.rejects(scan, /stop/);
    await server.idle();
  } finally {
    await server.close();
  }
});

test('scanTlsEndpoints scans several endpoints and keeps their order; a bad target fails before any connection', async () => {
  const pki = await testPki(NOW);
  const tls = await startTlsServer({ key: pki.leaf.keyPem, cert: pki.leaf.chainPem });
  const ssh = await startTcpServer((socket) => socket.end('SSH-2.0-x\r\n'));
  const closed = await closedPort();
  try {
    const results = await scanTlsEndpoints(
      [{ host: '127.0.0.1', port: ssh.port }, { host: 'localhost', port: tls.port }, { host: '127.0.0.1', port: closed }],
      { now: NOW, ca: [pki.ca.certPem], concurrency: 2 },
    );
    assert.deepEqual(results.map((r) => r.target.port), [ssh.port, tls.port, closed]);
    assert.deepEqual(results.map((r) => r.tls), [false, true, false]);
    assert.deepEqual(Object.keys(accepted(results[1] as TlsScanResult)), ['TLSv1.2', 'TLSv1.3']);
    await assert.rejects(
      scanTlsEndpoints([{ host: '127.0.0.1', port: tls.port }, { host: '127.0.0.1', port: 0 }]),
      (err: unknown) => err instanceof BulwarkError && err.code === 'INVALID_TARGET',
    );
    await assert.rejects(scanTlsEndpoint({ host: 'bad host', port: 443 }), (err: unknown) => err instanceof BulwarkError && err.code === 'INVALID_TARGET');
  } finally {
    await Promise.all([tls.close(), ssh.close()]);
  }
});
