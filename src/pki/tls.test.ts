import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { createRootCa, type CaMaterial } from './ca.js';
import { createCsr } from './csr.js';
import { createCrl } from './crl.js';
import { issueNodeCertificate, issueServerCertificate } from './issue.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

interface Pair {
  certPem: string;
  keyPem: string;
}

interface Handshake {
  ca: CaMaterial;
  server: Pair;
  crl?: string;
  client: Pair;
}

/**
 * One mTLS handshake against a real server. Under TLS 1.3 a refused client sees
 * `secureConnect` before the server's alert, so success means the server's
 * application data arrived, not that the client's handshake finished.
 */
async function handshake(opts: Handshake): Promise<boolean> {
  return (await run(opts, true)).ok;
}

/**
 * Why the server would refuse the client. A refusing server only reports
 * "socket hang up", so the reason is read from a server that does not refuse.
 */
async function refusalReason(opts: Handshake): Promise<string | undefined> {
  return (await run(opts, false)).authorizationError;
}

async function run(opts: Handshake, rejectUnauthorized: boolean): Promise<{ ok: boolean; authorizationError: string | undefined }> {
  let authorizationError: string | undefined;
  const server = createServer(
    {
      key: opts.server.keyPem,
      cert: opts.server.certPem,
      ca: opts.ca.certPem,
      requestCert: true,
      rejectUnauthorized,
      ...(opts.crl === undefined ? {} : { crl: opts.crl }),
    },
    (socket: TLSSocket) => {
      authorizationError = socket.authorizationError === null ? undefined : String(socket.authorizationError);
      socket.end('ok');
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  try {
    const ok = await new Promise<boolean>((resolve) => {
      let data = '';
      const socket = connect({ host: '127.0.0.1', port, ca: opts.ca.certPem, cert: opts.client.certPem, key: opts.client.keyPem });
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => {
        data += chunk;
      });
      socket.on('error', () => resolve(false));
      socket.on('close', () => resolve(data === 'ok'));
      socket.setTimeout(5000, () => socket.destroy());
    });
    return { ok, authorizationError };
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

async function fixture(): Promise<{ ca: CaMaterial; server: Pair; node: (nodeId: string, from: number, to: number) => Promise<Pair & { serial: string }> }> {
  const now = Date.now();
  const ca = await createRootCa({ clusterName: 'prod', notBefore: now - DAY, notAfter: now + 365 * DAY });
  const server = await issueServerCertificate(ca, {
    commonName: 'bulwark-agent-listener',
    dnsNames: ['localhost'],
    ipAddresses: ['127.0.0.1', '::1'],
    notBefore: now - HOUR,
    notAfter: now + DAY,
  });
  const node = async (nodeId: string, from: number, to: number): Promise<Pair & { serial: string }> => {
    const { csrPem, keyPem } = await createCsr({ commonName: nodeId });
    const issued = await issueNodeCertificate(ca, { csrPem, clusterName: 'prod', nodeId, notBefore: from, notAfter: to });
    return { certPem: issued.certPem, keyPem, serial: issued.serial };
  };
  return { ca, server: { certPem: server.chainPem, keyPem: server.keyPem }, node };
}

test('a node certificate from the cluster CA completes mTLS with a server certificate for 127.0.0.1', async () => {
  const f = await fixture();
  const now = Date.now();
  const client = await f.node('node_ok', now - HOUR, now + DAY);
  const opts = { ca: f.ca, server: f.server, client };
  assert.equal(await handshake(opts), true, await refusalReason(opts));
});

test('the CRL makes the TLS server refuse a revoked node and still accept the others', async () => {
  const f = await fixture();
  const now = Date.now();
  const revoked = await f.node('node_revoked', now - HOUR, now + DAY);
  const kept = await f.node('node_kept', now - HOUR, now + DAY);
  const crl = await createCrl(f.ca, {
    revoked: [{ serial: revoked.serial, revokedAt: now - 60_000 }],
    thisUpdate: now - 60_000,
    nextUpdate: now + HOUR,
    crlNumber: 2,
  });
  const refused = { ca: f.ca, server: f.server, crl, client: revoked };
  assert.equal(await handshake(refused), false);
  assert.equal(await refusalReason(refused), 'CERT_REVOKED');
  const accepted = { ca: f.ca, server: f.server, crl, client: kept };
  assert.equal(await handshake(accepted), true, await refusalReason(accepted));
});

test('an empty CRL lets every valid node in', async () => {
  const f = await fixture();
  const now = Date.now();
  const crl = await createCrl(f.ca, { revoked: [], thisUpdate: now - 60_000, nextUpdate: now + HOUR, crlNumber: 1 });
  const client = await f.node('node_a', now - HOUR, now + DAY);
  const opts = { ca: f.ca, server: f.server, crl, client };
  assert.equal(await handshake(opts), true, await refusalReason(opts));
});

test('an expired node certificate is refused by the TLS server', async () => {
  const f = await fixture();
  const now = Date.now();
  const client = await f.node('node_old', now - 2 * DAY, now - DAY);
  const opts = { ca: f.ca, server: f.server, client };
  assert.equal(await handshake(opts), false);
  assert.equal(await refusalReason(opts), 'CERT_HAS_EXPIRED');
});

test('a node certificate from another CA is refused by the TLS server', async () => {
  const f = await fixture();
  const other = await fixture();
  const now = Date.now();
  const client = await other.node('node_foreign', now - HOUR, now + DAY);
  const opts = { ca: f.ca, server: f.server, client };
  assert.equal(await handshake(opts), false);
  assert.match((await refusalReason(opts)) ?? '', /UNABLE_TO_(GET_ISSUER_CERT|VERIFY_LEAF_SIGNATURE)/);
});
