import { connect, type DetailedPeerCertificate } from 'node:tls';
import type { TlsVersion } from './versions.js';

export interface FetchRequest {
  address: string;
  port: number;
  serverName?: string;
  version: Exclude<TlsVersion, 'SSLv3'>;
  /** Trust anchors (PEM) replacing Node's default store. */
  ca?: string[];
  timeoutMs: number;
  signal: AbortSignal;
}

export interface FetchedChain {
  /** DER, leaf first. */
  chain: Buffer[];
  authorized: boolean;
  authorizationError?: string;
}

/**
 * A full handshake with Node's TLS client at exactly `version`, to read the
 * chain and let OpenSSL verify it against the trust store. Verification
 * failures do not stop the handshake (`rejectUnauthorized: false`): they are
 * what is being measured. The host-name check is done separately, because Node
 * would otherwise fold it into `authorizationError` and hide the chain's own
 * verdict. Security level 0 lets the client accept the small keys and old
 * protocol versions a weak server offers; nothing is sent over the connection.
 */
export function fetchChain(req: FetchRequest): Promise<FetchedChain> {
  return new Promise<FetchedChain>((resolve, reject) => {
    if (req.signal.aborted) {
      reject(req.signal.reason);
      return;
    }
    let settled = false;
    const socket = connect({
      host: req.address,
      port: req.port,
      ...(req.serverName === undefined ? {} : { servername: req.serverName }),
      rejectUnauthorized: false,
      checkServerIdentity: () => undefined,
      minVersion: req.version,
      maxVersion: req.version,
      ciphers: 'ALL:!aNULL:!eNULL:@SECLEVEL=0',
      ...(req.ca === undefined ? {} : { ca: req.ca }),
    });
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      clearTimeout(timer);
      req.signal.removeEventListener('abort', onAbort);
      socket.destroy();
      return true;
    };
    const onAbort = (): void => {
      if (settle()) reject(req.signal.reason);
    };
    const timer = setTimeout(() => {
      if (settle()) reject(new Error(`no TLS handshake within ${req.timeoutMs} ms`));
    }, req.timeoutMs);
    req.signal.addEventListener('abort', onAbort, { once: true });

    socket.once('secureConnect', () => {
      const chain = chainOf(socket.getPeerCertificate(true));
      const error = socket.authorizationError as Error | string | null;
      const outcome: FetchedChain = { chain, authorized: socket.authorized };
      if (!socket.authorized && error !== null) outcome.authorizationError = typeof error === 'string' ? error : error.message;
      if (settle()) resolve(outcome);
    });
    socket.once('error', (err: Error) => {
      if (settle()) reject(err);
    });
    socket.once('close', () => {
      if (settle()) reject(new Error('the server closed the connection during the handshake'));
    });
  });
}

/** DERs along `issuerCertificate` links; a self-signed root links to itself. */
function chainOf(leaf: DetailedPeerCertificate): Buffer[] {
  const chain: Buffer[] = [];
  const seen = new Set<string>();
  // An empty object (no certificate) has no `raw`; the types do not say so.
  for (let cert: DetailedPeerCertificate | undefined = leaf; cert?.raw !== undefined; cert = cert.issuerCertificate) {
    if (seen.has(cert.fingerprint256)) break;
    seen.add(cert.fingerprint256);
    chain.push(cert.raw);
  }
  return chain;
}
