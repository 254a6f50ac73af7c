import { request } from 'node:https';
import { connect, type PeerCertificate, type DetailedPeerCertificate } from 'node:tls';
import { hostname as osHostname } from 'node:os';
import { X509Certificate } from 'node:crypto';
import { BulwarkError, isErrorCode } from '../core/errors.js';
import { VERSION } from '../core/version.js';
import { JOIN_ALPN, JOIN_PATH, JoinResponseSchema, type JoinRequest, type JoinResponse } from '../protocol/agent.js';
import { createCsr } from '../pki/csr.js';
import { parsePin, pinMatches } from '../pki/pin.js';
import { saveIdentity, type AgentIdentity } from './identity.js';

export interface JoinOptions {
  servers: string[];
  token: string;
  caPin: string;
  dataDir: string;
  hostname?: string;
}

const TIMEOUT_MS = 15_000;

/** Parses `https://host:port` into what node:tls needs, with a clear error for anything else. */
export function parseServerUrl(url: string): { host: string; port: number; servername: string | undefined } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new BulwarkError('BAD_REQUEST', `server address "${url}" is not a URL; use https://HOST:8444`);
  }
  if (parsed.protocol !== 'https:') throw new BulwarkError('BAD_REQUEST', `server address "${url}" must start with https://`);
  const host = parsed.hostname.replace(/^\[|\]$/g, '');
  const isIp = /^[\d.]+$/.test(host) || host.includes(':');
  return { host, port: Number(parsed.port || 8444), servername: isIp ? undefined : host };
}

/**
 * Connects without trusting anything, takes the CA from the chain the server
 * presents, and keeps it only if its public key hashes to the pin. Nothing secret
 * is sent on this connection.
 */
export async function fetchPinnedCa(serverUrl: string, pin: string): Promise<string> {
  const { host, port, servername } = parseServerUrl(serverUrl);
  const chain = await new Promise<DetailedPeerCertificate>((resolve, reject) => {
    const socket = connect({ host, port, ...(servername ? { servername } : {}), ALPNProtocols: [JOIN_ALPN], rejectUnauthorized: false });
    socket.setTimeout(TIMEOUT_MS, () => socket.destroy(new Error('timed out')));
    socket.once('secureConnect', () => {
      const peer = socket.getPeerCertificate(true);
      socket.destroy();
      resolve(peer);
    });
    socket.once('error', (err) => reject(unreachable(serverUrl, err)));
  });
  const seen = new Set<PeerCertificate>();
  let cert: DetailedPeerCertificate | undefined = chain;
  while (cert && !seen.has(cert)) {
    seen.add(cert);
    if (cert.raw && pinMatches(pin, new Uint8Array(cert.raw))) {
      return new X509Certificate(cert.raw).toString();
    }
    cert = cert.issuerCertificate;
  }
  throw new BulwarkError('CA_PIN_MISMATCH', `the CA of ${serverUrl} does not match ${pin}: check the pin (\`bulwark up\` prints it) or that you reach the right server`);
}

/** Enrolls this machine: generates its key here, sends only a CSR, and saves the identity. */
export async function joinCluster(opts: JoinOptions): Promise<AgentIdentity> {
  const pin = parsePin(opts.caPin);
  if (opts.servers.length === 0) throw new BulwarkError('BAD_REQUEST', 'give at least one --server https://HOST:8444');
  const hostname = opts.hostname ?? joinableHostname(osHostname());
  let lastError: unknown;
  for (const server of opts.servers) {
    try {
      const caPem = await fetchPinnedCa(server, pin);
      const { csrPem, keyPem } = await createCsr({ commonName: hostname });
      const response = await postJoin(server, caPem, { token: opts.token, csr: csrPem, hostname, agentVersion: VERSION });
      if (!pinMatches(pin, response.caCertificate)) throw new BulwarkError('CA_PIN_MISMATCH', 'the server answered with a CA that does not match the pin');
      const identity: AgentIdentity = {
        nodeId: response.nodeId,
        clusterName: response.clusterName,
        servers: opts.servers,
        caPin: pin,
        caPem,
        certPem: response.certificate,
        keyPem,
      };
      await saveIdentity(opts.dataDir, identity);
      return identity;
    } catch (err) {
      // Only an unreachable server is worth trying the next address for; a refusal is final.
      if (!(err instanceof BulwarkError) || err.code !== 'UNREACHABLE') throw err;
      lastError = err;
    }
  }
  throw lastError;
}

/** POST /v1/join on a fresh connection that offers the join ALPN and trusts only the pinned CA. */
export function postJoin(serverUrl: string, caPem: string, body: JoinRequest): Promise<JoinResponse> {
  const { host, port, servername } = parseServerUrl(serverUrl);
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host,
        port,
        path: JOIN_PATH,
        method: 'POST',
        // The connection trusts only the pinned CA and offers the join ALPN, which routes it past the client-certificate check.
        createConnection: () => connect({ host, port, ca: caPem, ...(servername ? { servername } : {}), ALPNProtocols: [JOIN_ALPN], rejectUnauthorized: true }),
        timeout: TIMEOUT_MS,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            reject(new BulwarkError('UNREACHABLE', `${serverUrl} answered ${res.statusCode ?? '?'} with no JSON; is it a Bulwark agent listener?`));
            return;
          }
          if (res.statusCode !== 200) {
            const error = (json as { error?: { code?: string; message?: string } }).error;
            const code = error?.code;
            reject(new BulwarkError(isErrorCode(code) ? code : 'BAD_REQUEST', `join refused: ${error?.message ?? `HTTP ${res.statusCode ?? '?'}`}`));
            return;
          }
          const parsed = JoinResponseSchema.safeParse(json);
          if (!parsed.success) reject(new BulwarkError('BAD_REQUEST', 'the server sent a malformed join response'));
          else resolve(parsed.data);
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (err) => reject(unreachable(serverUrl, err)));
    req.end(payload);
  });
}

function unreachable(serverUrl: string, err: Error): BulwarkError {
  return new BulwarkError('UNREACHABLE', `cannot reach ${serverUrl}: ${err.message}`);
}

/**
 * The machine's host name as the server accepts it (RFC 1123: labels of 1–63
 * letters, digits and inner hyphens, at most 253 in all): some systems allow
 * underscores or other characters there, which would otherwise fail the join.
 */
export function joinableHostname(name: string): string {
  const labels = name
    .toLowerCase()
    .split('.')
    .map((label) => label.replace(/[^a-z0-9-]+/g, '-').slice(0, 63).replace(/^-+|-+$/g, ''))
    .filter((label) => label !== '');
  while (labels.join('.').length > 253) labels.pop();
  return labels.length === 0 ? 'node' : labels.join('.');
}
