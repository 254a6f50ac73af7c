import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildClientHello } from './client-hello.js';
import { probe, type ProbeRequest } from './probe.js';
import { closedPort, startTcpServer, type Endpoint } from './test-endpoints.js';

/** A TLS 1.2 ServerHello record choosing 0xc02f, then a ServerHelloDone. */
const SERVER_FLIGHT = Buffer.from(
  '160303004e' + // handshake record, 78 bytes
    '020000460303' + '42'.repeat(32) + '20' + '01'.repeat(32) + 'c02f' + '00' + // ServerHello
    '0e000000', // ServerHelloDone
  'hex',
);

function request(port: number, overrides: Partial<ProbeRequest> = {}): ProbeRequest {
  return {
    address: '127.0.0.1',
    port,
    hello: buildClientHello({ version: 'TLSv1.2', cipherSuites: [0xc02f] }),
    timeoutMs: 5000,
    signal: new AbortController().signal,
    ...overrides,
  };
}

async function withServer(onConnection: Parameters<typeof startTcpServer>[0], body: (server: Endpoint) => Promise<void>): Promise<void> {
  const server = await startTcpServer(onConnection);
  try {
    await body(server);
    await server.idle();
  } finally {
    await server.close();
  }
}

test('a ServerHello arriving in several TCP segments is read once whole', async () => {
  await withServer(
    (socket) => {
      socket.once('data', () => {
        socket.setNoDelay(true);
        const cuts = [0, 3, 7, 60, SERVER_FLIGHT.length];
        cuts.slice(1).forEach((end, i) => setTimeout(() => socket.write(SERVER_FLIGHT.subarray(cuts[i], end)), 10 * (i + 1)));
      });
    },
    async (server) => {
      const outcome = await probe(request(server.port));
      assert.equal(outcome.kind, 'server-hello');
      if (outcome.kind === 'server-hello') assert.equal(outcome.hello.cipherSuite, 0xc02f);
    },
  );
});

test('wantCertificates reads on to the message after the ServerHello', async () => {
  await withServer(
    (socket) => socket.once('data', () => socket.write(SERVER_FLIGHT)),
    async (server) => {
      const outcome = await probe(request(server.port, { wantCertificates: true }));
      assert.ok(outcome.kind === 'server-hello');
      assert.deepEqual(outcome.certificates, { state: 'absent' });
    },
  );
});

test('alerts, closes, silence and refused connections each have their outcome', async () => {
  await withServer(
    (socket) => socket.once('data', () => socket.end(Buffer.from('15030100020228', 'hex'))),
    async (server) => assert.deepEqual(await probe(request(server.port)), { kind: 'alert', description: 40, name: 'handshake_failure' }),
  );
  await withServer(
    (socket) => socket.destroy(),
    async (server) => assert.equal((await probe(request(server.port))).kind, 'closed'),
  );
  await withServer(
    () => undefined,
    async (server) => assert.deepEqual(await probe(request(server.port, { timeoutMs: 50 })), { kind: 'timeout' }),
  );
  const port = await closedPort();
  assert.deepEqual(await probe(request(port)), { kind: 'unreachable', reason: 'ECONNREFUSED' });
});

test('aborting rejects with the reason and closes the connection', async () => {
  await withServer(
    () => undefined,
    async (server) => {
      const controller = new AbortController();
      const pending = probe(request(server.port, { signal: controller.signal }));
      setTimeout(() => controller.abort(new Error('budget')), 20);
      await assert.rejects(pending, /budget/);
    },
  );
  await assert.rejects(probe(request(1, { signal: AbortSignal.abort(new Error('early')) })), /early/);
});
