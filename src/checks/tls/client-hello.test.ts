import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildClientHello } from './client-hello.js';

/** The parts of a ClientHello record the tests look at, read independently of the builder. */
interface ParsedHello {
  recordVersion: number;
  version: number;
  random: Buffer;
  sessionId: Buffer;
  suites: number[];
  compression: number[];
  extensions: Map<number, Buffer>;
  handshakeLength: number;
}

function parseClientHello(record: Buffer): ParsedHello {
  assert.equal(record[0], 22, 'a handshake record');
  assert.equal(record.readUInt16BE(3), record.length - 5, 'record length covers the rest');
  const hs = record.subarray(5);
  assert.equal(hs[0], 1, 'a ClientHello');
  assert.equal(hs.readUIntBE(1, 3), hs.length - 4, 'handshake length covers the rest');
  const body = hs.subarray(4);
  let offset = 34;
  const sessionLength = body.readUInt8(offset);
  const sessionId = body.subarray(offset + 1, offset + 1 + sessionLength);
  offset += 1 + sessionLength;
  const suitesLength = body.readUInt16BE(offset);
  const suites: number[] = [];
  for (let i = 0; i < suitesLength; i += 2) suites.push(body.readUInt16BE(offset + 2 + i));
  offset += 2 + suitesLength;
  const compressionLength = body.readUInt8(offset);
  const compression = [...body.subarray(offset + 1, offset + 1 + compressionLength)];
  offset += 1 + compressionLength;
  const extensionsEnd = offset + 2 + body.readUInt16BE(offset);
  assert.equal(extensionsEnd, body.length, 'extensions end the hello');
  const extensions = new Map<number, Buffer>();
  for (offset += 2; offset < extensionsEnd; ) {
    const type = body.readUInt16BE(offset);
    const length = body.readUInt16BE(offset + 2);
    assert.ok(!extensions.has(type), `extension ${type} appears once`);
    extensions.set(type, body.subarray(offset + 4, offset + 4 + length));
    offset += 4 + length;
  }
  return {
    recordVersion: record.readUInt16BE(1),
    version: body.readUInt16BE(0),
    random: body.subarray(2, 34),
    sessionId,
    suites,
    compression,
    extensions,
    handshakeLength: hs.length,
  };
}

function u16s(data: Buffer, skip: number): number[] {
  const out: number[] = [];
  for (let i = skip; i < data.length; i += 2) out.push(data.readUInt16BE(i));
  return out;
}

const RANDOM = Buffer.alloc(32, 0xab);

test('a TLS 1.2 ClientHello carries the version, the offered suites in order, SNI and the ECC and signature extensions', () => {
  const hello = parseClientHello(
    buildClientHello({ version: 'TLSv1.2', cipherSuites: [0xc02f, 0x002f, 0x000a], serverName: 'example.test', random: RANDOM }),
  );
  assert.equal(hello.recordVersion, 0x0301);
  assert.equal(hello.version, 0x0303);
  assert.deepEqual(hello.random, RANDOM);
  assert.equal(hello.sessionId.length, 0);
  // The renegotiation SCSV follows the offered suites.
  assert.deepEqual(hello.suites, [0xc02f, 0x002f, 0x000a, 0x00ff]);
  assert.deepEqual(hello.compression, [0]);
  const sni = hello.extensions.get(0);
  assert.ok(sni);
  assert.equal(sni.readUInt16BE(0), sni.length - 2);
  assert.equal(sni[2], 0, 'host_name');
  assert.equal(sni.subarray(5).toString('ascii'), 'example.test');
  assert.ok(u16s(hello.extensions.get(10) ?? Buffer.alloc(0), 2).includes(0x001d), 'x25519 among the groups');
  assert.deepEqual([...(hello.extensions.get(11) ?? [])], [1, 0], 'uncompressed points');
  const sigalgs = u16s(hello.extensions.get(13) ?? Buffer.alloc(0), 2);
  assert.ok(sigalgs.includes(0x0804) && sigalgs.includes(0x0201), 'modern and SHA-1 schemes');
  assert.equal(hello.extensions.has(43), false, 'no supported_versions below TLS 1.3');
  assert.equal(hello.extensions.has(51), false, 'no key_share below TLS 1.3');
});

test('TLS 1.0 and 1.1 hellos carry their version and leave out signature_algorithms; SSL 3 uses an SSL 3 record', () => {
  const tls10 = parseClientHello(buildClientHello({ version: 'TLSv1', cipherSuites: [0x002f], random: RANDOM }));
  assert.equal(tls10.version, 0x0301);
  assert.equal(tls10.extensions.has(13), false);
  assert.equal(tls10.extensions.has(0), false, 'no SNI without a server name');
  assert.equal(parseClientHello(buildClientHello({ version: 'TLSv1.1', cipherSuites: [0x002f] })).version, 0x0302);
  const ssl3 = parseClientHello(buildClientHello({ version: 'SSLv3', cipherSuites: [0x000a] }));
  assert.equal(ssl3.recordVersion, 0x0300);
  assert.equal(ssl3.version, 0x0300);
});

test('a TLS 1.3 ClientHello offers 1.3 through supported_versions with an x25519 key share', () => {
  const key = Buffer.alloc(32, 7);
  const hello = parseClientHello(
    buildClientHello({ version: 'TLSv1.3', cipherSuites: [0x1301, 0x1302], serverName: 'example.test', random: RANDOM, x25519PublicKey: key }),
  );
  assert.equal(hello.version, 0x0303, 'legacy_version stays TLS 1.2');
  assert.equal(hello.sessionId.length, 32, 'a compatibility session id');
  assert.deepEqual(hello.suites, [0x1301, 0x1302], 'no SCSV in TLS 1.3');
  assert.deepEqual([...(hello.extensions.get(43) ?? [])], [2, 0x03, 0x04]);
  const share = hello.extensions.get(51);
  assert.ok(share);
  assert.equal(share.readUInt16BE(0), 36, 'one entry: group, length, key');
  assert.equal(share.readUInt16BE(2), 0x001d);
  assert.equal(share.readUInt16BE(4), 32);
  assert.deepEqual(share.subarray(6), key);
  assert.ok(hello.extensions.has(13), 'signature_algorithms is mandatory in TLS 1.3');
  assert.ok(hello.extensions.has(0));
});

test('each TLS 1.3 hello gets a fresh x25519 key when none is given', () => {
  const share = (): Buffer => parseClientHello(buildClientHello({ version: 'TLSv1.3', cipherSuites: [0x1301] })).extensions.get(51) ?? Buffer.alloc(0);
  const a = share();
  const b = share();
  assert.equal(a.length, 38);
  assert.notDeepEqual(a.subarray(6), b.subarray(6));
});

test('a hello that would be 256–511 bytes long is padded past 511 (RFC 7685)', () => {
  for (let count = 1; count <= 300; count++) {
    const suites = Array.from({ length: count }, (_, i) => 0x0100 + i);
    const hello = parseClientHello(buildClientHello({ version: 'TLSv1.2', cipherSuites: suites, serverName: 'example.test' }));
    assert.ok(hello.handshakeLength < 256 || hello.handshakeLength >= 512, `${count} suites: ${hello.handshakeLength} bytes`);
    assert.equal(hello.suites.length, count + 1);
  }
});

test('a hello needs suites, a 32-byte random and a 32-byte key', () => {
  assert.throws(() => buildClientHello({ version: 'TLSv1.2', cipherSuites: [] }), RangeError);
  assert.throws(() => buildClientHello({ version: 'TLSv1.2', cipherSuites: [0x002f], random: Buffer.alloc(31) }), RangeError);
  assert.throws(() => buildClientHello({ version: 'TLSv1.3', cipherSuites: [0x1301], x25519PublicKey: Buffer.alloc(31) }), RangeError);
});
