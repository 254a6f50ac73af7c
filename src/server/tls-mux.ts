import { createServer, type Server, type Socket } from 'node:net';
import { Duplex } from 'node:stream';

/**
 * Reads the ALPN protocol names a TLS ClientHello offers, without decrypting
 * anything (the ClientHello is plain text). Returns 'incomplete' when more bytes
 * are needed and undefined when the bytes are not a ClientHello at all.
 */
export function readClientHelloAlpn(buf: Buffer): string[] | 'incomplete' | undefined {
  if (buf.length < 5) return 'incomplete';
  if (buf[0] !== 0x16) return undefined; // not a handshake record
  const recordLength = buf.readUInt16BE(3);
  if (buf.length < 5 + recordLength) return 'incomplete';
  const hello = buf.subarray(5, 5 + recordLength);
  if (hello[0] !== 0x01 || hello.length < 4) return undefined;
  const helloLength = hello.readUIntBE(1, 3);
  // A ClientHello split across records: route by the default (no ALPN) rather than buffer more.
  if (helloLength + 4 > hello.length) return [];
  let pos = 4 + 2 + 32; // header, client_version, random
  const skip = (lengthBytes: 1 | 2): boolean => {
    if (pos + lengthBytes > hello.length) return false;
    const len = lengthBytes === 1 ? (hello[pos] ?? 0) : hello.readUInt16BE(pos);
    pos += lengthBytes + len;
    return pos <= hello.length;
  };
  if (!skip(1) || !skip(2) || !skip(1)) return undefined; // session id, cipher suites, compression
  if (pos + 2 > hello.length) return [];
  const extensionsEnd = Math.min(hello.length, pos + 2 + hello.readUInt16BE(pos));
  pos += 2;
  while (pos + 4 <= extensionsEnd) {
    const type = hello.readUInt16BE(pos);
    const len = hello.readUInt16BE(pos + 2);
    const body = hello.subarray(pos + 4, pos + 4 + len);
    pos += 4 + len;
    if (type !== 0x0010 || body.length < 2) continue;
    const names: string[] = [];
    let p = 2;
    while (p < body.length) {
      const n = body[p] ?? 0;
      names.push(body.subarray(p + 1, p + 1 + n).toString('latin1'));
      p += 1 + n;
    }
    return names;
  }
  return [];
}

const MAX_HELLO_BYTES = 16 * 1024;
const HELLO_TIMEOUT_MS = 10_000;

/**
 * One TCP port, two destinations: connections whose ClientHello offers `alpn` go
 * to `onAlpn`, all others to `defaultServer` (which does not listen itself). Each
 * gets a stream that replays the bytes already read, as if it had accepted it.
 */
export function createAlpnMux(alpn: string, onAlpn: (stream: ReplayStream) => void, defaultServer: Server, opts: { helloTimeoutMs?: number } = {}): Server {
  const helloTimeoutMs = opts.helloTimeoutMs ?? HELLO_TIMEOUT_MS;
  // Half-open: once routed, the TLS layer on top decides when to end our side, so
  // a caller that half-closes after its request still receives the whole answer.
  return createServer({ pauseOnConnect: false, allowHalfOpen: true }, (socket: Socket) => {
    // Destroyed already (over a connection cap, by a 'connection' listener that ran first): nothing to route.
    if (socket.destroyed) return;
    let buffered = Buffer.alloc(0);
    const timer = setTimeout(() => socket.destroy(), helloTimeoutMs);
    // A caller that hangs up mid-hello will never finish it: drop it now, and do not
    // leave the timer holding its bytes for 10 s.
    const onEnd = (): void => {
      socket.destroy();
    };
    const onClose = (): void => clearTimeout(timer);
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk]);
      const offered = readClientHelloAlpn(buffered);
      if (offered === 'incomplete' && buffered.length < MAX_HELLO_BYTES) return;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('end', onEnd);
      socket.off('close', onClose);
      socket.pause();
      const stream = new ReplayStream(socket, buffered);
      if (Array.isArray(offered) && offered.includes(alpn)) onAlpn(stream);
      else defaultServer.emit('connection', stream);
    };
    const onError = (): void => {
      clearTimeout(timer);
      socket.destroy();
    };
    socket.on('data', onData);
    socket.on('error', onError);
    socket.once('end', onEnd);
    socket.once('close', onClose);
  });
}

/**
 * A TLS server handed a net.Socket reads its native handle directly and would
 * miss the bytes the mux already read; handed any other Duplex it reads through
 * JavaScript. This one replays the peeked bytes, then relays the socket, and
 * carries the peer address so rate limits still see who is calling.
 */
export class ReplayStream extends Duplex {
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  readonly #socket: Socket;

  /** The TCP connection underneath: deadlines and connection caps act on it. */
  get socket(): Socket {
    return this.#socket;
  }

  constructor(socket: Socket, head: Buffer) {
    // Half-open like the socket it relays: the end of the caller's data ends only the
    // readable side; the writable side ends when the TLS layer on top ends it.
    super({ allowHalfOpen: true });
    this.#socket = socket;
    this.remoteAddress = socket.remoteAddress;
    this.remotePort = socket.remotePort;
    if (head.length > 0) this.push(head);
    socket.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) socket.pause();
    });
    socket.on('end', () => this.push(null));
    socket.on('error', (err) => this.destroy(err));
    socket.on('close', () => this.destroy());
  }

  override _read(): void {
    this.#socket.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.#socket.write(chunk, callback);
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.#socket.end(callback);
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.#socket.destroy();
    callback(err);
  }
}
