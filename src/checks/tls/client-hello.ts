import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { versionCode, type TlsVersion } from './versions.js';

/**
 * Hand-built ClientHello records. OpenSSL 3's own client refuses to offer NULL,
 * EXPORT, RC4 and (at its default security level) 3DES suites or TLS 1.0, so a
 * Node TLS client cannot find out whether a server still accepts them; a raw
 * ClientHello can offer anything and the ServerHello answers the question
 * without the handshake ever completing.
 */

const CONTENT_HANDSHAKE = 22;
const HANDSHAKE_CLIENT_HELLO = 1;

const EXT_SERVER_NAME = 0;
const EXT_SUPPORTED_GROUPS = 10;
const EXT_EC_POINT_FORMATS = 11;
const EXT_SIGNATURE_ALGORITHMS = 13;
const EXT_PADDING = 21;
const EXT_SUPPORTED_VERSIONS = 43;
const EXT_KEY_SHARE = 51;

/** TLS_EMPTY_RENEGOTIATION_INFO_SCSV: what every real client sends; some servers refuse clients without it. */
const RENEGOTIATION_SCSV = 0x00ff;

const GROUP_X25519 = 0x001d;

/**
 * x25519 and the NIST curves first, then curves only old servers are configured
 * with, then the RFC 7919 groups so a server that honours them keeps its DHE suites.
 */
const SUPPORTED_GROUPS = [
  GROUP_X25519, 0x0017, 0x0018, 0x0019, 0x001e, 0x001a, 0x001b, 0x001c, 0x0016, 0x0015, 0x0100, 0x0101, 0x0102,
];

/**
 * Modern schemes first, then SHA-1 and SHA-224 ones: the scanner wants a legacy
 * server to answer, and a TLS 1.2 server with only a SHA-1 capable key would
 * otherwise fail the handshake and look as if it refused the suite.
 */
const SIGNATURE_ALGORITHMS = [
  0x0403, 0x0503, 0x0603, 0x0807, 0x0808, 0x0804, 0x0805, 0x0806, 0x0809, 0x080a, 0x080b, 0x0401, 0x0501, 0x0601,
  0x0303, 0x0301, 0x0302, 0x0402, 0x0203, 0x0201, 0x0202,
];

export interface ClientHelloOptions {
  version: TlsVersion;
  /** IANA codes, in preference order. */
  cipherSuites: readonly number[];
  /** SNI host name; omitted for IP targets (RFC 6066 forbids literal addresses). */
  serverName?: string;
  /** 32 bytes; random when absent (tests fix it to compare bytes). */
  random?: Uint8Array;
  /** TLS 1.3 only: a raw x25519 public key; a fresh one is generated when absent. */
  x25519PublicKey?: Uint8Array;
}

/** A complete TLS record holding one ClientHello. */
export function buildClientHello(opts: ClientHelloOptions): Buffer {
  const tls13 = opts.version === 'TLSv1.3';
  if (opts.cipherSuites.length === 0) throw new RangeError('a ClientHello needs at least one cipher suite');
  const random = opts.random ?? randomBytes(32);
  if (random.length !== 32) throw new RangeError('the ClientHello random is 32 bytes');
  // A TLS 1.3 hello carries TLS 1.2 as its legacy version and a session id,
  // as browsers do, so middleboxes pass it (RFC 8446, D.4).
  const legacyVersion = tls13 ? versionCode('TLSv1.2') : versionCode(opts.version);
  const sessionId = tls13 ? randomBytes(32) : Buffer.alloc(0);
  const suites = tls13 ? [...opts.cipherSuites] : [...opts.cipherSuites, RENEGOTIATION_SCSV];

  const extensions: Buffer[] = [];
  if (opts.serverName !== undefined) extensions.push(serverNameExtension(opts.serverName));
  extensions.push(extension(EXT_SUPPORTED_GROUPS, vector(2, u16List(SUPPORTED_GROUPS))));
  extensions.push(extension(EXT_EC_POINT_FORMATS, vector(1, Buffer.from([0]))));
  // signature_algorithms exists from TLS 1.2 on; older servers may choke on it.
  if (opts.version === 'TLSv1.2' || tls13) {
    extensions.push(extension(EXT_SIGNATURE_ALGORITHMS, vector(2, u16List(SIGNATURE_ALGORITHMS))));
  }
  if (tls13) {
    extensions.push(extension(EXT_SUPPORTED_VERSIONS, vector(1, u16List([versionCode('TLSv1.3')]))));
    const publicKey = opts.x25519PublicKey ?? freshX25519PublicKey();
    if (publicKey.length !== 32) throw new RangeError('an x25519 public key is 32 bytes');
    const share = Buffer.concat([u16(GROUP_X25519), vector(2, publicKey)]);
    extensions.push(extension(EXT_KEY_SHARE, vector(2, share)));
  }

  const body = (padding: Buffer[]): Buffer =>
    Buffer.concat([
      u16(legacyVersion),
      random,
      vector(1, sessionId),
      vector(2, u16List(suites)),
      vector(1, Buffer.from([0])), // compression: null only
      vector(2, Buffer.concat([...extensions, ...padding])),
    ]);
  let hello = body([]);
  // Some load balancers (F5, RFC 7685) hang on a ClientHello of 256–511 bytes;
  // a padding extension moves it past 511.
  const handshakeLength = hello.length + 4;
  if (handshakeLength >= 256 && handshakeLength < 512) {
    hello = body([extension(EXT_PADDING, Buffer.alloc(Math.max(0, 512 - handshakeLength - 4)))]);
  }
  const handshake = Buffer.concat([Buffer.from([HANDSHAKE_CLIENT_HELLO]), u24(hello.length), hello]);
  if (handshake.length > 0x4000) throw new RangeError('the ClientHello does not fit one TLS record');
  // Record version TLS 1.0 (SSL 3 for an SSL 3 probe): the value servers expect on a first flight.
  const recordVersion = opts.version === 'SSLv3' ? versionCode('SSLv3') : versionCode('TLSv1');
  return Buffer.concat([Buffer.from([CONTENT_HANDSHAKE]), u16(recordVersion), u16(handshake.length), handshake]);
}

function freshX25519PublicKey(): Buffer {
  const { publicKey } = generateKeyPairSync('x25519');
  const jwk = publicKey.export({ format: 'jwk' });
  if (jwk.x === undefined) throw new Error('x25519 public key export lacks "x"');
  return Buffer.from(jwk.x, 'base64url');
}

function serverNameExtension(name: string): Buffer {
  const host = Buffer.from(name, 'ascii');
  const entry = Buffer.concat([Buffer.from([0]), vector(2, host)]); // 0: host_name
  return extension(EXT_SERVER_NAME, vector(2, entry));
}

function extension(type: number, data: Buffer): Buffer {
  return Buffer.concat([u16(type), vector(2, data)]);
}

/** `data` prefixed with its length in `lengthBytes` bytes. */
function vector(lengthBytes: 1 | 2, data: Uint8Array): Buffer {
  const max = lengthBytes === 1 ? 0xff : 0xffff;
  if (data.length > max) throw new RangeError(`vector of ${data.length} bytes exceeds its length field`);
  const head = lengthBytes === 1 ? Buffer.from([data.length]) : u16(data.length);
  return Buffer.concat([head, data]);
}

function u16List(values: readonly number[]): Buffer {
  const out = Buffer.alloc(values.length * 2);
  values.forEach((v, i) => out.writeUInt16BE(v, i * 2));
  return out;
}

function u16(value: number): Buffer {
  const out = Buffer.alloc(2);
  out.writeUInt16BE(value);
  return out;
}

function u24(value: number): Buffer {
  return Buffer.from([(value >> 16) & 0xff, (value >> 8) & 0xff, value & 0xff]);
}
