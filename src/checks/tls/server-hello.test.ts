import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseServerResponse, type ServerResponse } from './server-hello.js';

const HRR_RANDOM = Buffer.from('cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c', 'hex');

function u16(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v);
  return b;
}

function u24(v: number): Buffer {
  return Buffer.from([(v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff]);
}

function record(type: number, body: Buffer, version = 0x0303): Buffer {
  return Buffer.concat([Buffer.from([type]), u16(version), u16(body.length), body]);
}

function handshake(type: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([type]), u24(body.length), body]);
}

function serverHello(opts: { version?: number; suite: number; random?: Buffer; sessionId?: Buffer; supportedVersion?: number; noExtensions?: boolean }): Buffer {
  const extensions =
    opts.supportedVersion === undefined ? Buffer.alloc(0) : Buffer.concat([u16(43), u16(2), u16(opts.supportedVersion)]);
  const sessionId = opts.sessionId ?? Buffer.alloc(32, 1);
  const body = Buffer.concat([
    u16(opts.version ?? 0x0303),
    opts.random ?? Buffer.alloc(32, 0x42),
    Buffer.from([sessionId.length]),
    sessionId,
    u16(opts.suite),
    Buffer.from([0]),
    ...(opts.noExtensions === true ? [] : [u16(extensions.length), extensions]),
  ]);
  return handshake(2, body);
}

function certificateMessage(ders: Buffer[]): Buffer {
  const list = Buffer.concat(ders.flatMap((d) => [u24(d.length), d]));
  return handshake(11, Buffer.concat([u24(list.length), list]));
}

/** Feeds `data` in the given chunk sizes, as TCP reads would, returning the first non-incomplete answer and when it came. */
function feed(data: Buffer, chunkSizes: number[]): { response: ServerResponse; afterBytes: number } {
  let received = Buffer.alloc(0);
  let offset = 0;
  for (const size of chunkSizes) {
    received = Buffer.concat([received, data.subarray(offset, offset + size)]);
    offset += size;
    const response = parseServerResponse(received);
    if (response.kind !== 'incomplete') return { response, afterBytes: received.length };
  }
  return { response: parseServerResponse(received), afterBytes: received.length };
}

test('a TLS 1.2 ServerHello gives the negotiated version and suite', () => {
  const data = record(22, serverHello({ suite: 0xc02f }));
  const response = parseServerResponse(data);
  assert.equal(response.kind, 'server-hello');
  if (response.kind !== 'server-hello') return;
  assert.deepEqual(response.hello, { version: 0x0303, legacyVersion: 0x0303, cipherSuite: 0xc02f, helloRetryRequest: false });
  assert.deepEqual(response.certificates, { state: 'pending' });
});

test('a TLS 1.3 ServerHello takes its version from supported_versions; its certificates are encrypted', () => {
  const data = Buffer.concat([
    record(22, serverHello({ suite: 0x1302, supportedVersion: 0x0304 })),
    record(20, Buffer.from([1])),
    record(23, Buffer.alloc(40, 9)),
  ]);
  const response = parseServerResponse(data);
  assert.equal(response.kind, 'server-hello');
  if (response.kind !== 'server-hello') return;
  assert.equal(response.hello.version, 0x0304);
  assert.equal(response.hello.legacyVersion, 0x0303);
  assert.equal(response.hello.cipherSuite, 0x1302);
  assert.deepEqual(response.certificates, { state: 'encrypted' });
});

test('a HelloRetryRequest is recognised by its random and still names the suite', () => {
  const response = parseServerResponse(record(22, serverHello({ suite: 0x1301, supportedVersion: 0x0304, random: HRR_RANDOM })));
  assert.equal(response.kind, 'server-hello');
  if (response.kind !== 'server-hello') return;
  assert.equal(response.hello.helloRetryRequest, true);
  assert.equal(response.hello.cipherSuite, 0x1301);
  assert.equal(response.hello.version, 0x0304);
});

test('an SSL 3 ServerHello without extensions parses', () => {
  const response = parseServerResponse(record(22, serverHello({ version: 0x0300, suite: 0x000a, noExtensions: true }), 0x0300));
  assert.equal(response.kind, 'server-hello');
  if (response.kind === 'server-hello') assert.equal(response.hello.version, 0x0300);
});

test('the Certificate message after a TLS 1.2 ServerHello yields the chain; ServerHelloDone without one means none', () => {
  const leaf = Buffer.from('3003020101', 'hex');
  const ca = Buffer.from('3003020102', 'hex');
  const withChain = parseServerResponse(record(22, Buffer.concat([serverHello({ suite: 0x002f }), certificateMessage([leaf, ca])])));
  assert.equal(withChain.kind, 'server-hello');
  if (withChain.kind === 'server-hello') assert.deepEqual(withChain.certificates, { state: 'present', chain: [leaf, ca] });
  const anonymous = parseServerResponse(record(22, Buffer.concat([serverHello({ suite: 0xc018 }), handshake(14, Buffer.alloc(0))])));
  assert.equal(anonymous.kind, 'server-hello');
  if (anonymous.kind === 'server-hello') assert.deepEqual(anonymous.certificates, { state: 'absent' });
});

test('a fatal alert is reported by name; a warning before the ServerHello is skipped', () => {
  assert.deepEqual(parseServerResponse(record(21, Buffer.from([2, 40]))), { kind: 'alert', level: 2, description: 40, name: 'handshake_failure' });
  assert.deepEqual(parseServerResponse(record(21, Buffer.from([2, 70]), 0x0301)), { kind: 'alert', level: 2, description: 70, name: 'protocol_version' });
  const warned = parseServerResponse(Buffer.concat([record(21, Buffer.from([1, 112])), record(22, serverHello({ suite: 0x002f }))]));
  assert.equal(warned.kind, 'server-hello');
});

test('every truncation of a valid answer is incomplete, never an error', () => {
  const data = Buffer.concat([record(22, serverHello({ suite: 0xc030 })), record(22, certificateMessage([Buffer.alloc(300, 1)]))]);
  const helloEnd = 5 + 4 + 38 + 32 + 2; // record header, handshake header, ServerHello with a 32-byte session id and empty extensions
  for (let length = 0; length < helloEnd; length++) {
    assert.equal(parseServerResponse(data.subarray(0, length)).kind, 'incomplete', `${length} bytes`);
  }
  for (let length = helloEnd; length < data.length; length++) {
    const response = parseServerResponse(data.subarray(0, length));
    assert.equal(response.kind, 'server-hello', `${length} bytes`);
    if (response.kind === 'server-hello') assert.equal(response.certificates.state, 'pending', `${length} bytes`);
  }
  const whole = parseServerResponse(data);
  assert.ok(whole.kind === 'server-hello' && whole.certificates.state === 'present');
});

test('a record split across TCP reads is parsed once whole, whatever the split', () => {
  const data = record(22, serverHello({ suite: 0x009c }));
  for (const chunks of [[1, 2, 3, 500], [4, 1, 500], [5, 10, 500], [data.length - 1, 1], [data.length]]) {
    const { response, afterBytes } = feed(data, chunks);
    assert.equal(response.kind, 'server-hello', `chunks ${chunks.join('+')}`);
    assert.equal(afterBytes, data.length, `chunks ${chunks.join('+')}: answered only when whole`);
  }
});

test('a ServerHello split across two records is reassembled', () => {
  const message = serverHello({ suite: 0xc02b });
  const data = Buffer.concat([record(22, message.subarray(0, 20)), record(22, message.subarray(20))]);
  assert.equal(parseServerResponse(data.subarray(0, 25)).kind, 'incomplete');
  const response = parseServerResponse(data);
  assert.ok(response.kind === 'server-hello' && response.hello.cipherSuite === 0xc02b);
});

test('an SSH banner, an HTTP answer or an SSL 2-style record is not TLS', () => {
  const ssh = parseServerResponse(Buffer.from('SSH-2.0-x\r\n'));
  assert.deepEqual(ssh, { kind: 'not-tls', reason: 'the server sent "SSH-2.0-x"' });
  assert.equal(parseServerResponse(Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n')).kind, 'not-tls');
  assert.equal(parseServerResponse(Buffer.from([0x16, 0x02, 0x00, 0x00, 0x10])).kind, 'not-tls');
  assert.equal(parseServerResponse(Buffer.from([0x80, 0x2e, 0x04, 0x00])).kind, 'not-tls');
  // Decided from the first byte: a banner is recognised before a whole "record" could arrive.
  assert.equal(parseServerResponse(Buffer.from('S')).kind, 'not-tls');
});

test('garbage after a whole ServerHello does not change the answer', () => {
  const response = parseServerResponse(Buffer.concat([record(22, serverHello({ suite: 0x002f })), Buffer.from('junk')]));
  assert.ok(response.kind === 'server-hello' && response.hello.cipherSuite === 0x002f);
});

test('malformed TLS is reported, not thrown', () => {
  assert.equal(parseServerResponse(record(22, handshake(2, Buffer.alloc(10)))).kind, 'not-tls', 'short ServerHello');
  assert.equal(parseServerResponse(record(22, handshake(11, Buffer.alloc(3)))).kind, 'not-tls', 'a Certificate first');
  assert.equal(parseServerResponse(record(23, Buffer.alloc(4))).kind, 'not-tls', 'application data first');
  assert.equal(parseServerResponse(Buffer.from([22, 3, 3, 0, 0])).kind, 'not-tls', 'an empty record');
  assert.equal(parseServerResponse(Buffer.from([22, 3, 3, 0xff, 0xff])).kind, 'not-tls', 'an oversized record');
  const badSession = serverHello({ suite: 0x002f, sessionId: Buffer.alloc(33) });
  assert.equal(parseServerResponse(record(22, badSession)).kind, 'not-tls', 'a 33-byte session id');
});
