/**
 * The agent listener against callers that never authenticate, and the life of
 * a channel against its certificate: a real AgentGateway on 127.0.0.1 over a
 * real SQLite store, with short deadlines passed as options.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect as netConnect, createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { WebSocket, type RawData } from 'ws';
import type { Clock } from '../core/clock.js';
import { BulwarkError } from '../core/errors.js';
import { silentLogger } from '../core/logger.js';
import { createRootCa, type CaMaterial } from '../pki/ca.js';
import { createCsr } from '../pki/csr.js';
import { AGENT_CONNECT_PATH, CLOSE_CODES, JOIN_ALPN } from '../protocol/agent.js';
import type { NodeFacts } from '../protocol/facts.js';
import { listNodeCertificates, revokeCertificate } from '../store/certificates.js';
import { getNode, insertNode, markNodeRemoved } from '../store/nodes.js';
import type { Store } from '../store/open.js';
import { testDatabases } from '../store/test-databases.js';
import { AgentGateway, type GatewayLimits } from './agent-gateway.js';
import type { Enrollment } from './enrollment.js';
import { EventLog } from './event-log.js';
import { Membership } from './membership.js';
import { NODE_REMOVED_CHANNEL } from './node-service.js';
import { PkiService } from './pki-service.js';

class MovableClock implements Clock {
  offsetMs = 0;
  now(): number {
    return Date.now() + this.offsetMs;
  }
}

interface Fixture {
  gateway: AgentGateway;
  port: number;
  pki: PkiService;
  events: EventLog;
  membership: Membership;
}

interface NodeCredentials {
  nodeId: string;
  certPem: string;
  keyPem: string;
  serial: string;
}

let store: Store;
let ca: CaMaterial;
const clock = new MovableClock();
const gateways: AgentGateway[] = [];
const sockets = new Set<{ destroy(): void }>();

before(async () => {
  const sqlite = testDatabases().find((d) => d.kind === 'sqlite');
  if (!sqlite) throw new Error('no SQLite test database');
  store = await sqlite.open();
  const now = Date.now();
  ca = await createRootCa({ clusterName: 'test', notBefore: now - 60_000, notAfter: now + 86_400_000 });
});

after(async () => {
  for (const s of sockets) s.destroy();
  for (const g of gateways) await g.close();
  await store?.close();
});

async function startGateway(
  limits: GatewayLimits & { tlsMinVersion?: 'TLSv1.2' | 'TLSv1.3'; nodeLifetimeMs?: number; pki?: (real: PkiService) => PkiService; events?: (real: EventLog) => EventLog } = {},
): Promise<Fixture> {
  const { tlsMinVersion, nodeLifetimeMs, pki: wrapPki, events: wrapEvents, ...rest } = limits;
  const realPki = new PkiService({ ca, clusterName: 'test', store, clock, nodeLifetimeMs: nodeLifetimeMs ?? 3_600_000 });
  const realEvents = new EventLog(store, clock, silentLogger);
  const pki = wrapPki ? wrapPki(realPki) : realPki;
  const events = wrapEvents ? wrapEvents(realEvents) : realEvents;
  const membership = new Membership({ store, clock, log: silentLogger, events, options: { heartbeatIntervalMs: 1_000, suspectAfterMissed: 3, offlineAfterMissed: 10 } });
  const enrollment = {
    join: () => Promise.reject(new BulwarkError('TOKEN_INVALID', 'no joins in this test')),
  } as unknown as Enrollment;
  const listener = await realPki.issueListenerCertificate(['127.0.0.1', 'localhost']);
  const gateway = new AgentGateway(
    {
      store,
      clock,
      log: silentLogger,
      events,
      membership,
      pki,
      enrollment,
      clusterName: 'test',
      heartbeatIntervalMs: 1_000,
      tlsMinVersion: tlsMinVersion ?? 'TLSv1.3',
      idleTimeoutMs: 60_000,
      helloTimeoutMs: 1_000,
      handshakeTimeoutMs: 1_000,
      joinDeadlineMs: 1_500,
      upgradeDeadlineMs: 1_500,
      ...rest,
    },
    ca.certPem,
    listener,
  );
  gateways.push(gateway);
  const port = await gateway.listen('127.0.0.1', 0);
  return { gateway, port, pki: realPki, events: realEvents, membership };
}

async function newNode(pki: PkiService, certs = 1): Promise<NodeCredentials> {
  const nodeId = `node_${Math.random().toString(36).slice(2, 10)}`;
  const now = clock.now();
  await insertNode(store.db, {
    id: nodeId,
    name: nodeId.replace('_', '-'),
    labels: {},
    state: 'pending',
    facts: null,
    factsHash: null,
    certSerial: null,
    certNotAfter: null,
    agentVersion: null,
    protocolVersion: null,
    joinTokenId: null,
    joinedAt: now,
    lastSeenAt: null,
    stateChangedAt: now,
    removedAt: null,
  });
  let last: NodeCredentials | undefined;
  for (let i = 0; i < certs; i++) {
    const { csrPem, keyPem } = await createCsr({ commonName: nodeId });
    const cert = await pki.issueNodeCertificate(nodeId, csrPem);
    last = { nodeId, certPem: cert.pem, keyPem, serial: cert.serial };
    // Distinct issue times, so "older" is well defined.
    await new Promise((r) => setTimeout(r, 5));
  }
  return last as NodeCredentials;
}

/** Resolves with how long the server took to close the socket (ms since `since`), or rejects after `limitMs`. */
function closedWithin(socket: Socket | TLSSocket, since: number, limitMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server kept the connection open for more than ${limitMs} ms`)), limitMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(Date.now() - since);
    });
  });
}

function rawConnect(port: number): Socket {
  const socket = netConnect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  socket.resume();
  sockets.add(socket);
  return socket;
}

function tlsClient(port: number, opts: { alpn?: string[]; cert?: string; key?: string; maxVersion?: 'TLSv1.2' | 'TLSv1.3'; ciphers?: string } = {}): TLSSocket {
  const socket = tlsConnect({
    host: '127.0.0.1',
    port,
    ca: ca.certPem,
    ...(opts.alpn ? { ALPNProtocols: opts.alpn } : {}),
    ...(opts.cert ? { cert: opts.cert, key: opts.key } : {}),
    ...(opts.maxVersion ? { maxVersion: opts.maxVersion } : {}),
    ...(opts.ciphers ? { ciphers: opts.ciphers } : {}),
  });
  socket.on('error', () => undefined);
  socket.resume();
  sockets.add(socket);
  return socket;
}

/** The first TLS record Node's client sends, captured by a raw server that then hangs up. */
async function captureClientHello(): Promise<Buffer> {
  const server = createNetServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const captured = new Promise<Buffer>((resolve) => {
    server.once('connection', (socket: Socket) => {
      let buf = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        if (buf.length >= 5 && buf.length >= 5 + buf.readUInt16BE(3)) {
          socket.destroy();
          resolve(buf);
        }
      });
    });
  });
  const client = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false });
  client.on('error', () => undefined);
  const hello = await captured;
  client.destroy();
  server.close();
  return hello;
}

interface Channel {
  ws: WebSocket;
  messages: { type: string; code?: string; message?: string; fatal?: boolean; requestId?: string; certificate?: string }[];
  closed: Promise<{ code: number; reason: string }>;
}

async function openChannel(port: number, creds: NodeCredentials): Promise<Channel> {
  const ws = new WebSocket(`wss://127.0.0.1:${port}${AGENT_CONNECT_PATH}`, { ca: ca.certPem, cert: creds.certPem, key: creds.keyPem });
  sockets.add({ destroy: () => ws.terminate() });
  const messages: Channel['messages'] = [];
  ws.on('message', (data: RawData) => messages.push(JSON.parse(data.toString()) as Channel['messages'][number]));
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode ?? 0}`)));
  });
  return { ws, messages, closed };
}

async function hello(ch: Channel): Promise<void> {
  ch.ws.send(JSON.stringify({ type: 'hello', protocolVersions: [1], agentVersion: 'test' }));
  await waitUntil(() => ch.messages.some((m) => m.type === 'welcome' || m.type === 'error'));
}

async function waitUntil(fn: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error('condition never held');
    await new Promise((r) => setTimeout(r, 20));
  }
}

function facts(hostname: string): NodeFacts {
  return { hostname, os: { id: 'debian' }, ipAddresses: [], listeningPorts: [], collectedAt: Date.now() };
}

describe('H1: connections that never authenticate are closed', () => {
  let fx: Fixture;
  before(async () => {
    fx = await startGateway();
  });

  it('(A) a join handshake followed by silence is closed at the join deadline', async () => {
    const started = Date.now();
    const socket = tlsClient(fx.port, { alpn: [JOIN_ALPN] });
    await once(socket, 'secureConnect');
    const took = await closedWithin(socket, started, 4_000);
    assert.ok(took >= 1_000, `closed after ${took} ms, before the deadline`);
  });

  it('(B) half of the join request headers, then silence, is closed at the join deadline', async () => {
    const started = Date.now();
    const socket = tlsClient(fx.port, { alpn: [JOIN_ALPN] });
    await once(socket, 'secureConnect');
    socket.write('POST /v1/join HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: appl');
    await closedWithin(socket, started, 4_000);
  });

  it('(C) a join body promised as 60,000 bytes of which 10 arrive is closed at the join deadline', async () => {
    const started = Date.now();
    const socket = tlsClient(fx.port, { alpn: [JOIN_ALPN] });
    await once(socket, 'secureConnect');
    socket.write('POST /v1/join HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 60000\r\n\r\n{"token":"');
    await closedWithin(socket, started, 4_000);
  });

  it('(D) a ClientHello on the mTLS path and nothing after is closed at the handshake timeout', async () => {
    const hello = await captureClientHello();
    const started = Date.now();
    const socket = rawConnect(fx.port);
    await once(socket, 'connect');
    socket.write(hello);
    await closedWithin(socket, started, 4_000);
  });

  it('(E) an mTLS connection that completes its handshake but never upgrades is closed at the upgrade deadline', async () => {
    const creds = await newNode(fx.pki);
    const started = Date.now();
    const socket = tlsClient(fx.port, { cert: creds.certPem, key: creds.keyPem });
    await once(socket, 'secureConnect');
    const took = await closedWithin(socket, started, 4_000);
    assert.ok(took >= 1_000, `closed after ${took} ms, before the deadline`);
  });

  it('a caller that sends nothing at all is closed at the hello timeout', async () => {
    const started = Date.now();
    const socket = rawConnect(fx.port);
    await closedWithin(socket, started, 3_000);
  });

  it('a join request is one-shot: the answer closes the connection', async () => {
    const socket = tlsClient(fx.port, { alpn: [JOIN_ALPN] });
    await once(socket, 'secureConnect');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    const started = Date.now();
    socket.write('GET /nothing HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    await closedWithin(socket, started, 1_000);
    assert.match(Buffer.concat(chunks).toString('latin1'), /^HTTP\/1\.1 404/);
  });
});

describe('H1: connection caps', () => {
  it('drops connections of one address beyond its cap of not-yet-upgraded ones; upgraded ones do not count', async () => {
    const fx = await startGateway({ maxPendingConnectionsPerAddress: 2, helloTimeoutMs: 30_000 });
    const creds = await newNode(fx.pki);
    const channel = await openChannel(fx.port, creds);
    const first = rawConnect(fx.port);
    const second = rawConnect(fx.port);
    await Promise.all([once(first, 'connect'), once(second, 'connect')]);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(first.destroyed || second.destroyed, false, 'the upgraded channel must not count against the cap');
    const third = rawConnect(fx.port);
    await closedWithin(third, Date.now(), 1_000);
    assert.equal(first.destroyed || second.destroyed, false);
    // A slot frees when a pending connection goes.
    first.destroy();
    await new Promise((r) => setTimeout(r, 100));
    const fourth = rawConnect(fx.port);
    await once(fourth, 'connect');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(fourth.destroyed, false);
    assert.equal(channel.ws.readyState, WebSocket.OPEN);
    for (const s of [second, fourth]) s.destroy();
    channel.ws.close();
  });

  it('drops connections beyond the global cap at once', async () => {
    const fx = await startGateway({ maxConnections: 2, helloTimeoutMs: 30_000 });
    const kept = [rawConnect(fx.port), rawConnect(fx.port)];
    await Promise.all(kept.map((s) => once(s, 'connect')));
    await new Promise((r) => setTimeout(r, 100));
    const over = rawConnect(fx.port);
    await closedWithin(over, Date.now(), 1_000);
    assert.ok(kept.every((s) => !s.destroyed));
    for (const s of kept) s.destroy();
  });
});

describe('L11: TLS 1.2 only with ECDHE and AEAD', () => {
  it('refuses CBC and SHA-1 suites on the join and mTLS paths, accepts ECDHE-GCM', async () => {
    const fx = await startGateway({ tlsMinVersion: 'TLSv1.2' });
    const creds = await newNode(fx.pki);
    const attempt = async (opts: Parameters<typeof tlsClient>[1]): Promise<boolean> => {
      const socket = tlsClient(fx.port, opts);
      // Success is application data (the 404 of a request), not the handshake event: under TLS 1.3 a refused client sees secureConnect first.
      const ok = await new Promise<boolean>((resolve) => {
        socket.once('secureConnect', () => socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
        socket.once('data', () => resolve(true));
        socket.once('close', () => resolve(false));
      });
      socket.destroy();
      return ok;
    };
    for (const ciphers of ['ECDHE-ECDSA-AES128-SHA', 'ECDHE-ECDSA-AES256-SHA384', 'ECDHE-ECDSA-AES128-SHA256']) {
      assert.equal(await attempt({ alpn: [JOIN_ALPN], maxVersion: 'TLSv1.2', ciphers }), false, `join accepted ${ciphers}`);
      assert.equal(await attempt({ cert: creds.certPem, key: creds.keyPem, maxVersion: 'TLSv1.2', ciphers }), false, `mTLS accepted ${ciphers}`);
    }
    assert.equal(await attempt({ alpn: [JOIN_ALPN], maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' }), true);
    assert.equal(await attempt({ alpn: [JOIN_ALPN], maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-CHACHA20-POLY1305' }), true);
    assert.equal(await attempt({ alpn: [JOIN_ALPN] }), true, 'TLS 1.3 still works');
  });
});

describe('M4: a channel does not outlive its certificate', () => {
  it('closes the channel at the certificate notAfter with CERT_REVOKED and the expiry message', async () => {
    const fx = await startGateway({ nodeLifetimeMs: 2_500 });
    const creds = await newNode(fx.pki);
    const ch = await openChannel(fx.port, creds);
    await hello(ch);
    const closed = await Promise.race([ch.closed, new Promise<undefined>((r) => setTimeout(() => r(undefined), 5_000))]);
    assert.ok(closed, 'the channel stayed open past the certificate expiry');
    assert.equal(closed.code, CLOSE_CODES.revoked);
    const error = ch.messages.find((m) => m.type === 'error');
    assert.equal(error?.code, 'CERT_REVOKED');
    assert.equal(error?.message, 'certificate expired; reconnect with a renewed one');
    assert.equal(error?.fatal, true);
  });

  it('re-checks live sessions periodically: a revocation or removal without a notification still closes them', async () => {
    const fx = await startGateway({ certRecheckIntervalMs: 200 });
    const revoked = await newNode(fx.pki);
    const removed = await newNode(fx.pki);
    const healthy = await newNode(fx.pki);
    const chRevoked = await openChannel(fx.port, revoked);
    const chRemoved = await openChannel(fx.port, removed);
    const chHealthy = await openChannel(fx.port, healthy);
    for (const ch of [chRevoked, chRemoved, chHealthy]) await hello(ch);
    await revokeCertificate(store.db, revoked.serial, clock.now(), 'test');
    await markNodeRemoved(store.db, removed.nodeId, clock.now());
    const timeout = new Promise<undefined>((r) => setTimeout(() => r(undefined), 3_000));
    assert.equal((await Promise.race([chRevoked.closed, timeout]))?.code, CLOSE_CODES.revoked);
    assert.equal(chRevoked.messages.find((m) => m.type === 'error')?.code, 'CERT_REVOKED');
    assert.equal((await Promise.race([chRemoved.closed, timeout]))?.code, CLOSE_CODES.removed);
    assert.equal(chRemoved.messages.find((m) => m.type === 'error')?.code, 'NODE_REMOVED');
    assert.equal(chHealthy.ws.readyState, WebSocket.OPEN);
    chHealthy.ws.close();
  });
});

describe('M5: a node removed while its connection is set up', () => {
  it('is closed right after the upgrade, without waiting for hello', async () => {
    const target: { id?: string } = {};
    const fx = await startGateway({
      // The upgrade revokes the node's older certificate and appends an event: that is
      // after the node-state check and before the session exists. Remove the node then.
      events: (real) =>
        ({
          append: async (type: string, nodeId: string | null, details?: Record<string, unknown>) => {
            if (type === 'cert.revoked' && nodeId === target.id) await markNodeRemoved(store.db, nodeId, clock.now());
            return real.append(type, nodeId, details);
          },
        }) as unknown as EventLog,
    });
    const creds = await newNode(fx.pki, 2);
    target.id = creds.nodeId;
    const ch = await openChannel(fx.port, creds);
    const closed = await Promise.race([ch.closed, new Promise<undefined>((r) => setTimeout(() => r(undefined), 3_000))]);
    assert.equal(closed?.code, CLOSE_CODES.removed, 'the channel of a removed node stayed open');
    assert.equal(ch.messages[0]?.code, 'NODE_REMOVED');
  });

  it('hello refuses a node removed after the upgrade', async () => {
    const fx = await startGateway();
    const creds = await newNode(fx.pki);
    const ch = await openChannel(fx.port, creds);
    await new Promise((r) => setTimeout(r, 100));
    await markNodeRemoved(store.db, creds.nodeId, clock.now());
    await hello(ch);
    assert.equal(ch.messages[0]?.type, 'error');
    assert.equal(ch.messages[0]?.code, 'NODE_REMOVED');
    assert.equal((await ch.closed).code, CLOSE_CODES.removed);
    assert.equal((await getNode(store.db, creds.nodeId))?.state, 'removed', 'hello did not activate it');
  });
});

describe('M3 and L12: renewal', () => {
  it('refuses a renewal before half the lifetime, a second one in flight, and a CSR with the same key; then revokes all but two', async () => {
    // Issuance can be held, so "a second one in flight" does not depend on how fast the first one is.
    const gate: { hold?: Promise<void> } = {};
    const fx = await startGateway({
      pki: (real) =>
        ({
          caCertPem: real.caCertPem,
          checkNodeCertificate: real.checkNodeCertificate.bind(real),
          revocationsChanged: real.revocationsChanged.bind(real),
          issueNodeCertificate: async (nodeId: string, csr: string) => {
            await gate.hold;
            return real.issueNodeCertificate(nodeId, csr);
          },
        }) as unknown as PkiService,
    });
    const creds = await newNode(fx.pki, 3);
    const ch = await openChannel(fx.port, creds);
    await hello(ch);
    const fresh = await createCsr({ commonName: 'x' });
    const answer = async (requestId: string): Promise<Channel['messages'][number]> => {
      await waitUntil(() => ch.messages.some((m) => m.requestId === requestId));
      return ch.messages.find((m) => m.requestId === requestId) as Channel['messages'][number];
    };

    ch.ws.send(JSON.stringify({ type: 'renew', requestId: 'early', csr: fresh.csrPem }));
    const early = await answer('early');
    assert.equal(early.type, 'error');
    assert.equal(early.fatal, false);
    assert.equal(early.code, 'RATE_LIMITED');
    assert.match(early.message ?? '', /half of its lifetime/);

    clock.offsetMs = 40 * 60_000; // 40 of 60 minutes used
    try {
      const { X509Certificate } = await import('node:crypto');
      // A CSR of the current key: build one by hand is not needed — reuse the key through a CSR made for it.
      const sameKeyCsr = await csrForKey(creds.keyPem);
      ch.ws.send(JSON.stringify({ type: 'renew', requestId: 'same-key', csr: sameKeyCsr }));
      const same = await answer('same-key');
      assert.equal(same.type, 'error');
      assert.equal(same.fatal, false);
      assert.match(same.message ?? '', /fresh key pair/);

      const secondCsr = (await createCsr({ commonName: 'y' })).csrPem;
      let release: () => void = () => undefined;
      gate.hold = new Promise<void>((resolve) => (release = resolve));
      ch.ws.send(JSON.stringify({ type: 'renew', requestId: 'one', csr: fresh.csrPem }));
      ch.ws.send(JSON.stringify({ type: 'renew', requestId: 'two', csr: secondCsr }));
      const two = await answer('two');
      release();
      const one = await answer('one');
      assert.equal(one.type, 'renewed');
      assert.equal(two.type, 'error');
      assert.equal(two.code, 'CONFLICT');
      assert.equal(two.fatal, false);

      const issued = new X509Certificate(one.certificate ?? '');
      const valid = (await listNodeCertificates(store.db, creds.nodeId)).filter((c) => c.revokedAt === null).map((c) => c.serial);
      assert.deepEqual(valid.sort(), [creds.serial, issued.serialNumber.toLowerCase().replace(/^0+/, '')].sort(), 'only the connection certificate and the new one stay valid');
      assert.equal(ch.ws.readyState, WebSocket.OPEN);
    } finally {
      clock.offsetMs = 0;
      ch.ws.close();
    }
  });

  it('revokes what it just issued when the node was removed meanwhile (L12)', async () => {
    const removeOnIssue: { id?: string } = {};
    const fx = await startGateway({
      pki: (real) =>
        ({
          caCertPem: real.caCertPem,
          checkNodeCertificate: real.checkNodeCertificate.bind(real),
          revocationsChanged: real.revocationsChanged.bind(real),
          issueNodeCertificate: async (nodeId: string, csr: string) => {
            const cert = await real.issueNodeCertificate(nodeId, csr);
            if (nodeId === removeOnIssue.id) await markNodeRemoved(store.db, nodeId, clock.now());
            return cert;
          },
        }) as unknown as PkiService,
    });
    const creds = await newNode(fx.pki);
    const ch = await openChannel(fx.port, creds);
    await hello(ch);
    removeOnIssue.id = creds.nodeId;
    clock.offsetMs = 40 * 60_000;
    try {
      ch.ws.send(JSON.stringify({ type: 'renew', requestId: 'r', csr: (await createCsr({ commonName: 'z' })).csrPem }));
      assert.equal((await ch.closed).code, CLOSE_CODES.removed);
      assert.ok(!ch.messages.some((m) => m.type === 'renewed'), 'no certificate was handed out');
      const certs = await listNodeCertificates(store.db, creds.nodeId);
      const newest = certs.find((c) => c.serial !== creds.serial);
      assert.ok(newest, 'a certificate was issued');
      assert.notEqual(newest.revokedAt, null, 'the certificate issued during the removal is revoked');
    } finally {
      clock.offsetMs = 0;
    }
  });
});

describe('M7 and L17: facts and removed nodes', () => {
  it('accepts one facts update per session per interval and drops the rest', async () => {
    const fx = await startGateway();
    const creds = await newNode(fx.pki);
    const ch = await openChannel(fx.port, creds);
    await hello(ch);
    ch.ws.send(JSON.stringify({ type: 'facts', facts: facts('first') }));
    ch.ws.send(JSON.stringify({ type: 'facts', facts: facts('second') }));
    ch.ws.send(JSON.stringify({ type: 'facts', facts: facts('third') }));
    await waitUntil(async () => (await getNode(store.db, creds.nodeId))?.facts !== null);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await getNode(store.db, creds.nodeId))?.facts?.hostname, 'first');
    assert.equal(ch.ws.readyState, WebSocket.OPEN, 'dropping is silent, not a protocol error');
    ch.ws.close();
  });

  it('an oversized facts message is a protocol error', async () => {
    const fx = await startGateway();
    const creds = await newNode(fx.pki);
    const ch = await openChannel(fx.port, creds);
    await hello(ch);
    ch.ws.send(JSON.stringify({ type: 'facts', facts: { ...facts('h'), kernel: 'k'.repeat(257) } }));
    assert.equal((await ch.closed).code, CLOSE_CODES.protocol);
  });

  it('membership forgets a node once its removal is announced', async () => {
    const fx = await startGateway();
    const creds = await newNode(fx.pki);
    const ch = await openChannel(fx.port, creds);
    await hello(ch);
    await waitUntil(() => fx.membership.trackedCount > 0);
    const before = fx.membership.trackedCount;
    await markNodeRemoved(store.db, creds.nodeId, clock.now());
    await store.notifier.publish(NODE_REMOVED_CHANNEL, creds.nodeId);
    assert.equal((await ch.closed).code, CLOSE_CODES.removed);
    await waitUntil(() => fx.membership.trackedCount === before - 1);
  });
});

/** A CSR signed with an existing private key (PEM, PKCS#8): what a lazy or hostile agent would send. */
async function csrForKey(keyPem: string): Promise<string> {
  const { x509, SIGNING_ALGORITHM, EC_KEY_ALGORITHM } = await import('../pki/provider.js');
  const { createPrivateKey, createPublicKey, webcrypto } = await import('node:crypto');
  const privateDer = createPrivateKey(keyPem).export({ type: 'pkcs8', format: 'der' });
  const publicDer = createPublicKey(keyPem).export({ type: 'spki', format: 'der' });
  const keys = {
    privateKey: await webcrypto.subtle.importKey('pkcs8', privateDer, EC_KEY_ALGORITHM, true, ['sign']),
    publicKey: await webcrypto.subtle.importKey('spki', publicDer, EC_KEY_ALGORITHM, true, ['verify']),
  };
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: [{ CN: ['same'] }], keys, signingAlgorithm: SIGNING_ALGORITHM });
  return `${x509.PemConverter.encode(csr.rawData, 'CERTIFICATE REQUEST')}\n`;
}
