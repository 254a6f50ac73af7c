import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect as netConnect, createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { connect as tlsConnect, createSecureContext, createServer as createTlsServer, TLSSocket, type ConnectionOptions } from 'node:tls';
import { createRootCa } from '../pki/ca.js';
import { issueServerCertificate } from '../pki/issue.js';
import { createAlpnMux, readClientHelloAlpn, type ReplayStream } from './tls-mux.js';

const JOIN = 'bulwark-join/1';

async function listen(server: NetServer): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

async function close(server: NetServer): Promise<void> {
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** A whole first TLS record, judged by its own header, not by the code under test. */
function completeRecord(buf: Buffer): boolean {
  return buf.length >= 5 && buf.length >= 5 + buf.readUInt16BE(3);
}

/**
 * The bytes Node's TLS client really sends first: a raw TCP server reads them
 * and hangs up before any TLS happens.
 */
async function captureClientHello(options: Pick<ConnectionOptions, 'ALPNProtocols' | 'servername'>): Promise<Buffer> {
  const server = createNetServer();
  const port = await listen(server);
  try {
    const captured = new Promise<Buffer>((resolve) => {
      server.once('connection', (socket: Socket) => {
        let buf = Buffer.alloc(0);
        socket.on('data', (chunk: Buffer) => {
          buf = Buffer.concat([buf, chunk]);
          if (completeRecord(buf)) {
            socket.destroy();
            resolve(buf);
          }
        });
      });
    });
    const client = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...options });
    client.on('error', () => undefined); // the capture server hangs up mid-handshake
    const hello = await captured;
    client.destroy();
    return hello;
  } finally {
    await close(server);
  }
}

test('readClientHelloAlpn reads the ALPN names of a real ClientHello, in order', async () => {
  const hello = await captureClientHello({ ALPNProtocols: [JOIN, 'h2'] });
  assert.equal(hello[0], 0x16);
  assert.deepEqual(readClientHelloAlpn(hello), [JOIN, 'h2']);
});

test('readClientHelloAlpn finds ALPN among other extensions (SNI first)', async () => {
  const hello = await captureClientHello({ ALPNProtocols: ['http/1.1'], servername: 'agents.example.com' });
  assert.ok(hello.includes(Buffer.from('agents.example.com')), 'the ClientHello carries SNI');
  assert.deepEqual(readClientHelloAlpn(hello), ['http/1.1']);
});

test('readClientHelloAlpn returns no names for a ClientHello without ALPN', async () => {
  const hello = await captureClientHello({});
  assert.deepEqual(readClientHelloAlpn(hello), []);
});

test('readClientHelloAlpn asks for more bytes for every proper prefix of a ClientHello', async () => {
  const hello = await captureClientHello({ ALPNProtocols: [JOIN] });
  for (let length = 0; length < hello.length; length++) {
    assert.equal(readClientHelloAlpn(hello.subarray(0, length)), 'incomplete', `prefix of ${length} bytes`);
  }
  assert.deepEqual(readClientHelloAlpn(hello), [JOIN]);
});

test('readClientHelloAlpn ignores bytes after the first record', async () => {
  const hello = await captureClientHello({ ALPNProtocols: [JOIN] });
  assert.deepEqual(readClientHelloAlpn(Buffer.concat([hello, randomBytes(100)])), [JOIN]);
});

test('readClientHelloAlpn returns undefined for bytes that are not a TLS handshake', () => {
  assert.equal(readClientHelloAlpn(Buffer.from('GET / HTTP/1.1\r\nHost: example\r\n\r\n')), undefined);
  assert.equal(readClientHelloAlpn(Buffer.from('SSH-2.0-OpenSSH_9.6\r\n')), undefined);
  assert.equal(readClientHelloAlpn(Buffer.from([0x17, 0x03, 0x03, 0x00, 0x01, 0x00])), undefined); // application data record
});

test('readClientHelloAlpn returns undefined for a handshake record that is not a ClientHello', async () => {
  const hello = await captureClientHello({ ALPNProtocols: [JOIN] });
  const serverHello = Buffer.from(hello);
  serverHello[5] = 0x02; // handshake type ServerHello
  assert.equal(readClientHelloAlpn(serverHello), undefined);
});

test('readClientHelloAlpn returns undefined when a length inside the ClientHello overruns it', async () => {
  const hello = Buffer.from(await captureClientHello({ ALPNProtocols: [JOIN] }));
  // record header (5), handshake header (4), client_version (2), random (32): then the session id.
  const sessionIdAt = 5 + 4 + 2 + 32;
  const cipherSuitesAt = sessionIdAt + 1 + (hello[sessionIdAt] ?? 0);
  hello.writeUInt16BE(0xfffe, cipherSuitesAt);
  assert.equal(readClientHelloAlpn(hello), undefined);
});

test('a ClientHello split across two records is routed by default (no names) rather than buffered', async () => {
  const hello = await captureClientHello({ ALPNProtocols: [JOIN] });
  const body = hello.subarray(5, 5 + hello.readUInt16BE(3));
  const record = (part: Buffer): Buffer => {
    const header = Buffer.from([0x16, hello[1] ?? 3, hello[2] ?? 1, 0, 0]);
    header.writeUInt16BE(part.length, 3);
    return Buffer.concat([header, part]);
  };
  const half = Math.floor(body.length / 2);
  assert.deepEqual(readClientHelloAlpn(Buffer.concat([record(body.subarray(0, half)), record(body.subarray(half))])), []);
});

interface MuxFixture {
  port: number;
  /** Peer addresses the ALPN side saw through its ReplayStream. */
  joinPeers: { address: string | undefined; port: number | undefined }[];
  defaultErrors: Error[];
  mux: NetServer;
  caPem: string;
}

/**
 * A real mux: a tls.Server (never listening itself) as the default, and on the ALPN
 * side a TLSSocket wrapped around the replay stream, as the agent gateway does. Both
 * greet with who they are and then echo.
 */
async function startMux(): Promise<MuxFixture> {
  const now = Date.now();
  const ca = await createRootCa({ clusterName: 'test', notBefore: now - 60_000, notAfter: now + 86_400_000 });
  const leaf = await issueServerCertificate(ca, { commonName: '127.0.0.1', dnsNames: [], ipAddresses: ['127.0.0.1'], notBefore: now - 60_000, notAfter: now + 86_400_000 });
  const defaultErrors: Error[] = [];
  const defaultServer = createTlsServer({ cert: leaf.chainPem, key: leaf.keyPem, ALPNProtocols: ['h2', 'http/1.1'] }, (socket) => {
    socket.write(`default ${String(socket.alpnProtocol)}\n`);
    socket.pipe(socket);
  });
  defaultServer.on('tlsClientError', (err) => defaultErrors.push(err));
  const joinPeers: MuxFixture['joinPeers'] = [];
  const secureContext = createSecureContext({ cert: leaf.chainPem, key: leaf.keyPem });
  const mux = createAlpnMux(
    JOIN,
    (stream: ReplayStream) => {
      joinPeers.push({ address: stream.remoteAddress, port: stream.remotePort });
      const tls = new TLSSocket(stream, { isServer: true, secureContext, ALPNProtocols: [JOIN] });
      tls.once('secure', () => {
        tls.write(`join ${String(tls.alpnProtocol)} ${stream.remoteAddress ?? '?'} ${stream.remotePort ?? '?'}\n`);
        tls.pipe(tls);
      });
      tls.on('error', () => tls.destroy());
    },
    defaultServer,
  );
  const port = await listen(mux);
  return { port, joinPeers, defaultErrors, mux, caPem: ca.certPem };
}

interface Exchange {
  received: string;
  alpn: string | false | null;
  localAddress: string | undefined;
  localPort: number | undefined;
}

/**
 * Connects over TLS trusting only the test CA, sends `payload`, half-closes (as
 * `socket.end` does), and reads until the server closes.
 */
async function exchange(fx: MuxFixture, ALPNProtocols: string[] | undefined, payload: string): Promise<Exchange> {
  const socket = tlsConnect({ host: '127.0.0.1', port: fx.port, ca: fx.caPem, ...(ALPNProtocols ? { ALPNProtocols } : {}) });
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  await once(socket, 'secureConnect');
  const result = { alpn: socket.alpnProtocol, localAddress: socket.localAddress, localPort: socket.localPort };
  socket.end(payload);
  await once(socket, 'close');
  return { ...result, received: Buffer.concat(chunks).toString('latin1') };
}

test('createAlpnMux routes by ALPN and the ALPN side sees the caller address through the ReplayStream', async (t) => {
  const fx = await startMux();
  t.after(() => close(fx.mux));

  const join = await exchange(fx, [JOIN, 'h2'], 'ping');
  assert.equal(join.alpn, JOIN);
  assert.equal(join.received, `join ${JOIN} ${join.localAddress ?? ''} ${join.localPort ?? ''}\nping`);
  assert.deepEqual(fx.joinPeers, [{ address: '127.0.0.1', port: join.localPort }]);

  const plain = await exchange(fx, undefined, 'hello');
  assert.equal(plain.alpn, false);
  assert.equal(plain.received, 'default false\nhello');

  const h2 = await exchange(fx, ['h2', 'http/1.1'], 'x');
  assert.equal(h2.alpn, 'h2');
  assert.equal(h2.received, 'default h2\nx');

  assert.equal(fx.joinPeers.length, 1, 'only the join connection reached the ALPN side');
  assert.deepEqual(fx.defaultErrors, []);
});

test('createAlpnMux relays large payloads both ways, and a caller that half-closes still gets the whole answer', async (t) => {
  const fx = await startMux();
  t.after(() => close(fx.mux));
  const payload = randomBytes(1536 * 1024).toString('base64'); // 2 MiB of ASCII, so string length = bytes
  const join = await exchange(fx, [JOIN], payload);
  assert.equal(join.received.length, join.received.indexOf('\n') + 1 + payload.length);
  assert.ok(join.received.endsWith(payload));
  const plain = await exchange(fx, undefined, payload);
  assert.equal(plain.received, `default false\n${payload}`);
});

test('createAlpnMux hands non-TLS bytes to the default server, which refuses them', async (t) => {
  const fx = await startMux();
  t.after(() => close(fx.mux));
  const socket = netConnect(fx.port, '127.0.0.1');
  socket.on('error', () => undefined);
  socket.resume();
  socket.end('GET / HTTP/1.1\r\nHost: example\r\n\r\n');
  await once(socket, 'close');
  assert.equal(fx.defaultErrors.length, 1);
  assert.deepEqual(fx.joinPeers, []);
});

test('a caller that hangs up mid-hello leaves nothing behind', async (t) => {
  const fx = await startMux();
  t.after(() => close(fx.mux));
  const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  const before = timers();
  const socket = netConnect(fx.port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(Buffer.from([0x16, 0x03, 0x01, 0x01, 0x00, 0x01])); // a record that promises 256 bytes
  await new Promise((resolve) => setImmediate(resolve));
  socket.destroy();
  // Wait until the mux has seen the hang-up: promptly, not when the 10 s hello timer fires.
  const deadline = Date.now() + 3_000;
  for (;;) {
    const count = await new Promise<number>((resolve, reject) => fx.mux.getConnections((err, n) => (err ? reject(err) : resolve(n))));
    await new Promise((resolve) => setImmediate(resolve));
    if (count === 0) break;
    assert.ok(Date.now() < deadline, 'the mux still holds the connection of a caller that hung up');
  }
  assert.equal(timers(), before, 'the hello timer of the closed connection is still pending');
  assert.deepEqual(fx.joinPeers, []);
  assert.deepEqual(fx.defaultErrors, []);
});

test('a caller that half-closes mid-hello is dropped at once, not after the hello timeout', async (t) => {
  const fx = await startMux();
  t.after(() => close(fx.mux));
  const socket = netConnect(fx.port, '127.0.0.1');
  socket.on('error', () => undefined);
  socket.resume();
  await once(socket, 'connect');
  const started = Date.now();
  socket.end(Buffer.from([0x16, 0x03, 0x01, 0x01, 0x00]));
  let timer: NodeJS.Timeout | undefined;
  const closed = await Promise.race([
    once(socket, 'close').then(() => true),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), 3_000);
    }),
  ]);
  clearTimeout(timer);
  assert.equal(closed, true, 'the mux kept a half-closed caller waiting');
  assert.ok(Date.now() - started < 3_000);
  assert.deepEqual(fx.joinPeers, []);
  socket.destroy();
});
