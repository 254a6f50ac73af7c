/**
 * Reads a server's first flight just far enough to learn what it chose: the
 * ServerHello (or HelloRetryRequest), an alert, or evidence that the peer does
 * not speak TLS. It takes everything received so far, so a caller feeding it
 * TCP reads one at a time sees `incomplete` until a record (or a handshake
 * message spanning records) is whole.
 */

const CONTENT_CHANGE_CIPHER_SPEC = 20;
const CONTENT_ALERT = 21;
const CONTENT_HANDSHAKE = 22;
const CONTENT_APPLICATION_DATA = 23;

const HANDSHAKE_SERVER_HELLO = 2;
const HANDSHAKE_CERTIFICATE = 11;

const EXT_SUPPORTED_VERSIONS = 43;

/** Largest record a peer may send: 2^14 plus the TLS 1.2 expansion allowance. */
const MAX_RECORD = 0x4000 + 2048;

/** SHA-256("HelloRetryRequest"): the random of a TLS 1.3 HelloRetryRequest (RFC 8446, 4.1.3). */
const HELLO_RETRY_RANDOM = Buffer.from('cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c', 'hex');

const ALERT_NAMES: Record<number, string> = {
  0: 'close_notify',
  10: 'unexpected_message',
  20: 'bad_record_mac',
  22: 'record_overflow',
  40: 'handshake_failure',
  42: 'bad_certificate',
  47: 'illegal_parameter',
  50: 'decode_error',
  51: 'decrypt_error',
  70: 'protocol_version',
  71: 'insufficient_security',
  80: 'internal_error',
  86: 'inappropriate_fallback',
  90: 'user_canceled',
  109: 'missing_extension',
  110: 'unsupported_extension',
  112: 'unrecognized_name',
  120: 'no_application_protocol',
};

function alertName(description: number): string {
  return ALERT_NAMES[description] ?? `alert ${description}`;
}

export interface ServerHello {
  /** The negotiated version: supported_versions when present (TLS 1.3), else the legacy field. */
  version: number;
  legacyVersion: number;
  cipherSuite: number;
  /** A TLS 1.3 HelloRetryRequest: the server accepts the suite but wants another key share. */
  helloRetryRequest: boolean;
}

/**
 * What follows the ServerHello as far as certificates go: TLS 1.3 encrypts the
 * Certificate, anonymous suites send none, and the flight may not be whole yet.
 */
export type ServerCertificates =
  | { state: 'pending' }
  | { state: 'encrypted' }
  | { state: 'absent' }
  | { state: 'present'; chain: Buffer[] };

export type ServerResponse =
  | { kind: 'incomplete' }
  | { kind: 'server-hello'; hello: ServerHello; certificates: ServerCertificates }
  | { kind: 'alert'; level: number; description: number; name: string }
  | { kind: 'not-tls'; reason: string };

interface HandshakeMessage {
  type: number;
  body: Buffer;
}

/** Parses everything received so far; call again with more data while the answer is `incomplete`. */
export function parseServerResponse(data: Buffer): ServerResponse {
  const handshake: Buffer[] = [];
  let offset = 0;
  while (offset < data.length) {
    const header = data.subarray(offset, offset + 5);
    const early = checkRecordStart(header, offset === 0 ? data.subarray(0, 24) : undefined);
    // Whatever follows a whole ServerHello cannot change what the server chose.
    if (early?.kind === 'not-tls' && messages(handshake).length > 0) break;
    if (early !== undefined) return early;
    if (header.length < 5) break;
    const type = header.readUInt8(0);
    const length = header.readUInt16BE(3);
    if (length === 0 || length > MAX_RECORD) return notTls(`a TLS record of ${length} bytes`);
    if (offset + 5 + length > data.length) break;
    const fragment = data.subarray(offset + 5, offset + 5 + length);
    offset += 5 + length;
    if (type === CONTENT_ALERT) {
      // An alert after a whole ServerHello does not change what the server chose.
      if (messages(handshake).length > 0) break;
      const alert = readAlert(fragment);
      if (alert !== undefined) return alert;
      continue;
    }
    if (type !== CONTENT_HANDSHAKE) {
      // Once the ServerHello is read, TLS 1.3 continues with ChangeCipherSpec and
      // encrypted records; before it, anything but a handshake is a protocol error.
      if (messages(handshake).length > 0) break;
      return notTls(`a record of type ${type} before the ServerHello`);
    }
    handshake.push(fragment);
  }
  return fromMessages(messages(handshake));
}

/**
 * Rejects a peer whose first bytes cannot start a TLS record: an SSH banner, an
 * HTTP answer, … `opening` is the start of the stream when this is the first record.
 */
function checkRecordStart(header: Buffer, opening: Buffer | undefined): ServerResponse | undefined {
  const type = header[0];
  if (type === undefined) return { kind: 'incomplete' };
  const knownTypes = [CONTENT_CHANGE_CIPHER_SPEC, CONTENT_ALERT, CONTENT_HANDSHAKE, CONTENT_APPLICATION_DATA];
  if (!knownTypes.includes(type)) {
    return notTls(opening === undefined ? `a record of unknown type ${type}` : `the server sent ${describeBytes(opening)}`);
  }
  const major = header[1];
  if (major !== undefined && major !== 3) return notTls(`a record with version ${major}.x`);
  return undefined;
}

function readAlert(fragment: Buffer): ServerResponse | undefined {
  const level = fragment[0];
  const description = fragment[1];
  if (level === undefined || description === undefined) return notTls('a truncated alert');
  // A warning such as unrecognized_name may precede the ServerHello; only a fatal
  // alert or close_notify ends the handshake.
  if (level === 1 && description !== 0) return undefined;
  return { kind: 'alert', level, description, name: alertName(description) };
}

/** Splits concatenated handshake fragments into whole messages; a trailing partial one is left out. */
function messages(fragments: Buffer[]): HandshakeMessage[] {
  const stream = Buffer.concat(fragments);
  const out: HandshakeMessage[] = [];
  let offset = 0;
  while (offset + 4 <= stream.length) {
    const type = stream.readUInt8(offset);
    const length = stream.readUIntBE(offset + 1, 3);
    if (offset + 4 + length > stream.length) break;
    out.push({ type, body: stream.subarray(offset + 4, offset + 4 + length) });
    offset += 4 + length;
  }
  return out;
}

function fromMessages(list: HandshakeMessage[]): ServerResponse {
  const first = list[0];
  if (first === undefined) return { kind: 'incomplete' };
  if (first.type !== HANDSHAKE_SERVER_HELLO) return notTls(`handshake message ${first.type} where a ServerHello belongs`);
  const hello = readServerHello(first.body);
  if (hello === undefined) return notTls('a malformed ServerHello');
  return { kind: 'server-hello', hello, certificates: certificatesAfter(hello, list[1]) };
}

function certificatesAfter(hello: ServerHello, next: HandshakeMessage | undefined): ServerCertificates {
  if (hello.version >= 0x0304 || hello.helloRetryRequest) return { state: 'encrypted' };
  if (next === undefined) return { state: 'pending' };
  if (next.type !== HANDSHAKE_CERTIFICATE) return { state: 'absent' };
  const chain = readCertificateList(next.body);
  return chain === undefined ? { state: 'absent' } : { state: 'present', chain };
}

/**
 * ServerHello: version(2) random(32) session_id<0..32> cipher_suite(2)
 * compression(1) [extensions<0..2^16-1>]; SSL 3 servers may omit the extensions.
 */
function readServerHello(body: Buffer): ServerHello | undefined {
  if (body.length < 38) return undefined;
  const legacyVersion = body.readUInt16BE(0);
  const random = body.subarray(2, 34);
  const sessionIdLength = body.readUInt8(34);
  let offset = 35 + sessionIdLength;
  if (sessionIdLength > 32 || offset + 3 > body.length) return undefined;
  const cipherSuite = body.readUInt16BE(offset);
  offset += 3; // cipher suite and compression method
  let version = legacyVersion;
  if (offset + 2 <= body.length) {
    const extensionsEnd = offset + 2 + body.readUInt16BE(offset);
    if (extensionsEnd > body.length) return undefined;
    for (offset += 2; offset + 4 <= extensionsEnd; ) {
      const type = body.readUInt16BE(offset);
      const length = body.readUInt16BE(offset + 2);
      if (offset + 4 + length > extensionsEnd) return undefined;
      if (type === EXT_SUPPORTED_VERSIONS && length === 2) version = body.readUInt16BE(offset + 4);
      offset += 4 + length;
    }
  }
  return { version, legacyVersion, cipherSuite, helloRetryRequest: random.equals(HELLO_RETRY_RANDOM) };
}

/** Certificate (TLS ≤ 1.2): certificate_list<0..2^24-1> of ASN.1Cert<1..2^24-1>, leaf first. */
function readCertificateList(body: Buffer): Buffer[] | undefined {
  if (body.length < 3) return undefined;
  const end = 3 + body.readUIntBE(0, 3);
  if (end > body.length) return undefined;
  const chain: Buffer[] = [];
  for (let offset = 3; offset < end; ) {
    if (offset + 3 > end) return undefined;
    const length = body.readUIntBE(offset, 3);
    if (length === 0 || offset + 3 + length > end) return undefined;
    chain.push(Buffer.from(body.subarray(offset + 3, offset + 3 + length)));
    offset += 3 + length;
  }
  return chain;
}

function notTls(reason: string): ServerResponse {
  return { kind: 'not-tls', reason };
}

/** The first bytes as text when printable (an SSH or HTTP banner), else as hex. */
function describeBytes(bytes: Buffer): string {
  const text = bytes.toString('latin1').replace(/[\r\n]+$/, '');
  return /^[\x20-\x7e]+$/.test(text) ? JSON.stringify(text) : `0x${bytes.toString('hex')}`;
}
