/**
 * The TLS edge of both listeners, over real sockets: who may complete a
 * handshake with the agent listener, and which TLS versions either listener
 * speaks. Under TLS 1.3 a refused client sees `secureConnect` before the
 * server's alert, so success is judged by application data arriving (a
 * WebSocket `open`, an HTTP response), never by the handshake event.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { createRootCa } from '../src/pki/ca.js';
import { createCsr } from '../src/pki/csr.js';
import { issueNodeCertificate } from '../src/pki/issue.js';
import { ShiftedClock, connectAgentSocket, enroll, httpsCall, postJoin, startTestServer, waitClose, type Enrolled, type TestServer } from './harness.js';

const DAY = 86_400_000;

/** A client that offers TLS 1.1 only (its ciphers need security level 0 in OpenSSL 3). */
const TLS11 = { minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' } as const;
const TLS10 = { minVersion: 'TLSv1', maxVersion: 'TLSv1', ciphers: 'DEFAULT@SECLEVEL=0' } as const;
const TLS12 = { maxVersion: 'TLSv1.2' } as const;

describe('client certificates on the agent listener', () => {
  let t: TestServer;
  let node: Enrolled;

  before(async () => {
    t = await startTestServer();
    node = await enroll(t);
  });
  after(async () => {
    if (node) await rm(node.dataDir, { recursive: true, force: true });
    await t?.close();
  });

  it('accepts a current certificate of the cluster (control)', async () => {
    const r = await connectAgentSocket(t.server.agentUrl, { ca: node.identity.caPem, cert: node.identity.certPem, key: node.identity.keyPem });
    assert.equal(r.kind, 'open');
    if (r.kind === 'open') {
      r.ws.close();
      await waitClose(r.ws);
    }
  });

  it('refuses a client without a certificate at the handshake', async () => {
    const r = await connectAgentSocket(t.server.agentUrl, { ca: t.server.pki.caCertPem });
    assert.equal(r.kind, 'error', `no HTTP exchange may happen without a certificate, got ${r.kind}`);
  });

  it('refuses a certificate of another CA at the handshake, even one naming a real node', async () => {
    const now = Date.now();
    const other = await createRootCa({ clusterName: t.server.clusterName, notBefore: now - DAY, notAfter: now + DAY });
    const { csrPem, keyPem } = await createCsr({ commonName: 'intruder' });
    const forged = await issueNodeCertificate(other, { csrPem, clusterName: t.server.clusterName, nodeId: node.identity.nodeId, notBefore: now - 60_000, notAfter: now + DAY });
    const r = await connectAgentSocket(t.server.agentUrl, { ca: t.server.pki.caCertPem, cert: forged.certPem, key: keyPem });
    assert.equal(r.kind, 'error', `a foreign certificate must not reach the upgrade, got ${r.kind}`);
  });

  it('refuses an expired certificate of the cluster at the handshake', async () => {
    // A server whose clock is two days behind issues one-hour certificates that
    // real time (which TLS uses) already sees as expired; its CA and listener
    // certificates are long-lived enough to be valid now.
    const past = await startTestServer({ clock: new ShiftedClock(-2 * DAY), nodeCertLifetimeMs: 3_600_000 });
    let e: Enrolled | undefined;
    try {
      e = await enroll(past);
      const validTo = Date.parse(new X509Certificate(e.identity.certPem).validTo);
      assert.ok(validTo < Date.now(), 'the certificate is expired in real time');
      const r = await connectAgentSocket(past.server.agentUrl, { ca: e.identity.caPem, cert: e.identity.certPem, key: e.identity.keyPem });
      assert.equal(r.kind, 'error', `an expired certificate must not reach the upgrade, got ${r.kind}`);
      assert.equal(past.server.gateway.connectionCount, 0);
    } finally {
      if (e) await rm(e.dataDir, { recursive: true, force: true });
      await past.close();
    }
  });
});

describe('TLS versions', () => {
  let strict: TestServer;
  let relaxed: TestServer;
  let strictNode: Enrolled;
  let relaxedNode: Enrolled;

  before(async () => {
    strict = await startTestServer();
    relaxed = await startTestServer({ tlsMinVersion: 'TLSv1.2' });
    strictNode = await enroll(strict);
    relaxedNode = await enroll(relaxed);
  });
  after(async () => {
    for (const n of [strictNode, relaxedNode]) if (n) await rm(n.dataDir, { recursive: true, force: true });
    await strict?.close();
    await relaxed?.close();
  });

  const api = (t: TestServer, tls: Record<string, string> = {}) => httpsCall(`${t.server.apiUrl}/healthz`, { ca: t.server.pki.caCertPem, ...tls });
  const agentWs = (t: TestServer, n: Enrolled, tls: Record<string, string> = {}) =>
    connectAgentSocket(t.server.agentUrl, { ca: n.identity.caPem, cert: n.identity.certPem, key: n.identity.keyPem, ...tls });
  const join = (t: TestServer, tls: Record<string, string> = {}) => postJoin(t, { token: 'x' }, tls);

  it('by default both listeners speak TLS 1.3', async () => {
    const res = await api(strict);
    assert.equal(res.status, 200);
    assert.equal(res.protocol, 'TLSv1.3');
    const joined = await join(strict);
    assert.equal(joined.status, 400, 'the join endpoint answers (a bad request) over TLS 1.3');
    assert.equal(joined.protocol, 'TLSv1.3');
    const ws = await agentWs(strict, strictNode);
    assert.equal(ws.kind, 'open');
    if (ws.kind === 'open') ws.ws.close();
  });

  it('by default TLS 1.2 is refused on the API listener and on the agent listener (mTLS and join)', async () => {
    await assert.rejects(api(strict, TLS12));
    await assert.rejects(join(strict, TLS12));
    const ws = await agentWs(strict, strictNode, TLS12);
    assert.equal(ws.kind, 'error', `got ${ws.kind}`);
  });

  it('TLS 1.1 and 1.0 are refused on both listeners, even when TLS 1.2 is allowed', async () => {
    for (const version of [TLS11, TLS10]) {
      for (const t of [strict, relaxed]) {
        await assert.rejects(api(t, version));
        await assert.rejects(join(t, version));
      }
      assert.equal((await agentWs(strict, strictNode, version)).kind, 'error');
      assert.equal((await agentWs(relaxed, relaxedNode, version)).kind, 'error');
    }
  });

  it('with tlsMinVersion TLSv1.2 both listeners accept TLS 1.2', async () => {
    const res = await api(relaxed, TLS12);
    assert.equal(res.status, 200);
    assert.equal(res.protocol, 'TLSv1.2');
    const joined = await join(relaxed, TLS12);
    assert.equal(joined.status, 400);
    assert.equal(joined.protocol, 'TLSv1.2');
    const ws = await agentWs(relaxed, relaxedNode, TLS12);
    assert.equal(ws.kind, 'open', `got ${ws.kind}`);
    if (ws.kind === 'open') {
      ws.ws.close();
      await waitClose(ws.ws);
    }
  });
});
