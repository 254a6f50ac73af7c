import { connect } from 'node:net';
import { parseServerResponse, type ServerCertificates, type ServerHello } from './server-hello.js';

/** What one connection learnt from sending one ClientHello. */
export type ProbeOutcome =
  | { kind: 'server-hello'; hello: ServerHello; certificates: ServerCertificates }
  | { kind: 'alert'; description: number; name: string }
  | { kind: 'not-tls'; reason: string }
  /** Closed or reset before any TLS answer: how many servers refuse a hello they dislike. */
  | { kind: 'closed'; reason: string }
  | { kind: 'timeout' }
  /** The TCP connection itself failed (refused, no route, …). */
  | { kind: 'unreachable'; reason: string };

export interface ProbeRequest {
  address: string;
  port: number;
  /** A complete ClientHello record. */
  hello: Buffer;
  /** For connect and answer together. */
  timeoutMs: number;
  /** Aborting rejects the probe with the signal's reason and destroys the socket. */
  signal: AbortSignal;
  /** Read on past the ServerHello until the (TLS ≤ 1.2, plaintext) Certificate message. */
  wantCertificates?: boolean;
}

/** A ServerHello and a certificate chain fit well within this; a peer sending more without either is not TLS. */
const MAX_RESPONSE_BYTES = 256 * 1024;

/**
 * Opens one TCP connection, sends the hello and reads until the server's answer
 * is known. The socket is destroyed on every path (answer, timeout, error,
 * abort), so a scan never leaves connections behind; the handshake is never
 * completed, which also means no application data is ever exchanged.
 */
export function probe(req: ProbeRequest): Promise<ProbeOutcome> {
  return new Promise<ProbeOutcome>((resolve, reject) => {
    if (req.signal.aborted) {
      reject(req.signal.reason);
      return;
    }
    let received = Buffer.alloc(0);
    let connected = false;
    let settled = false;
    const socket = connect({ host: req.address, port: req.port });
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      clearTimeout(timer);
      req.signal.removeEventListener('abort', onAbort);
      socket.destroy();
      return true;
    };
    const finish = (outcome: ProbeOutcome): void => {
      if (settle()) resolve(outcome);
    };
    const onAbort = (): void => {
      if (settle()) reject(req.signal.reason);
    };
    const timer = setTimeout(() => finish({ kind: 'timeout' }), req.timeoutMs);
    req.signal.addEventListener('abort', onAbort, { once: true });

    socket.setNoDelay(true);
    socket.once('connect', () => {
      connected = true;
      socket.write(req.hello);
    });
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const response = parseServerResponse(received);
      const overflow = received.length > MAX_RESPONSE_BYTES;
      switch (response.kind) {
        case 'incomplete':
          if (overflow) finish({ kind: 'not-tls', reason: `no ServerHello in the first ${MAX_RESPONSE_BYTES} bytes` });
          return;
        case 'server-hello':
          if (req.wantCertificates === true && response.certificates.state === 'pending' && !overflow) return;
          finish({ kind: 'server-hello', hello: response.hello, certificates: response.certificates });
          return;
        case 'alert':
          finish({ kind: 'alert', description: response.description, name: response.name });
          return;
        case 'not-tls':
          finish({ kind: 'not-tls', reason: response.reason });
          return;
      }
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      const reason = err.code ?? err.message;
      finish(connected ? afterClose(received, reason) : { kind: 'unreachable', reason });
    });
    socket.on('close', () => finish(afterClose(received, 'closed')));
  });
}

/** The connection ended: a ServerHello already read still counts (its certificates may be cut short). */
function afterClose(received: Buffer, reason: string): ProbeOutcome {
  const response = parseServerResponse(received);
  if (response.kind === 'server-hello') return { kind: 'server-hello', hello: response.hello, certificates: response.certificates };
  if (response.kind === 'not-tls') return { kind: 'not-tls', reason: response.reason };
  return { kind: 'closed', reason: received.length === 0 ? reason : `${reason} after ${received.length} bytes of an incomplete record` };
}
