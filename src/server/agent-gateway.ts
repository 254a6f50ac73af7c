import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { X509Certificate } from 'node:crypto';
import type { AddressInfo, Server as NetServer, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { TLSSocket, createSecureContext, type SecureContext } from 'node:tls';
import { WebSocketServer } from 'ws';
import { BulwarkError, errorBody, isBulwarkError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { AGENT_CONNECT_PATH, CLOSE_CODES, JOIN_ALPN, JOIN_PATH, JoinRequestSchema, MAX_AGENT_MESSAGE_BYTES } from '../protocol/agent.js';
import { parseNodeSpiffeId } from '../pki/identity.js';
import { getNode } from '../store/nodes.js';
import { revokeNodeCertificatesExcept } from '../store/certificates.js';
import { AgentSession, CERT_EXPIRED_MESSAGE, type SessionBackups, type SessionDeps, type SessionSecrets } from './agent-session.js';
import type { Enrollment } from './enrollment.js';
import type { ListenerCertificate } from './pki-service.js';
import { NODE_REMOVED_CHANNEL } from './node-service.js';
import { readJsonBody, sendError, sendJson } from './http-json.js';
import { ReplayStream, createAlpnMux } from './tls-mux.js';
import type { TlsMinVersion } from './options.js';

const JOIN_BODY_LIMIT = 64 * 1024;
const RECHECK_CHUNK = 500;

/** Defaults of the agent listener's limits (see {@link GatewayLimits}). */
export const GATEWAY_DEFAULTS = {
  helloTimeoutMs: 10_000,
  handshakeTimeoutMs: 10_000,
  joinDeadlineMs: 15_000,
  upgradeDeadlineMs: 15_000,
  maxConnections: 50_000,
  // Generous enough for a NAT or a CI runner enrolling many machines at once; the global cap still bounds the total.
  maxPendingConnectionsPerAddress: 256,
  certRecheckIntervalMs: 60_000,
} as const;

/**
 * TLS 1.3 suites, then for TLS 1.2 (only when `tlsMinVersion` allows it) ECDHE
 * key exchange with AEAD ciphers only: no CBC, no SHA-1, no static RSA.
 */
export const TLS_CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

/** Limits of the agent listener against connections that never authenticate; all optional. */
export interface GatewayLimits {
  /** A ClientHello must arrive within this. Default 10 s. */
  helloTimeoutMs?: number;
  /** The TLS handshake after the ClientHello, on either side. Default 10 s. */
  handshakeTimeoutMs?: number;
  /** A whole join connection: handshake, request headers, body and answer. Default 15 s. */
  joinDeadlineMs?: number;
  /** A TLS connection with a client certificate must have upgraded to the WebSocket within this. Default 15 s. */
  upgradeDeadlineMs?: number;
  /** Connections on the listener at once; more are dropped at accept. Default 50,000. */
  maxConnections?: number;
  /** Connections of one source address that have not (yet) upgraded; more are dropped at accept. Default 256. */
  maxPendingConnectionsPerAddress?: number;
  /** How often every live session's certificate and node are re-checked in the database. Default 60 s. */
  certRecheckIntervalMs?: number;
}

export interface GatewayDeps extends SessionDeps, GatewayLimits {
  /** Told when a node's channel to this replica closes (after membership). */
  onAgentDisconnected?: (nodeId: string) => void;
  enrollment: Enrollment;
  clusterName: string;
  tlsMinVersion: TlsMinVersion;
  /** Silence after which a connection is presumed dead and dropped. */
  idleTimeoutMs: number;
}

/** One TCP connection of the listener; `pending` until it carries an agent's WebSocket. */
interface Connection {
  address: string;
  pending: boolean;
}

/**
 * The agent listener. One port serves two kinds of caller: a joining agent (no
 * certificate yet; it offers the join ALPN and reaches only POST /v1/join) and an
 * enrolled agent, which must present a certificate of the cluster CA at the
 * handshake and then passes a revocation check before its WebSocket opens.
 */
export class AgentGateway {
  readonly #sessions = new Map<string, AgentSession>();
  readonly #mtls: HttpsServer;
  readonly #joinHttp = createHttpServer((req, res) => void this.#onJoinRequest(req, res));
  readonly #wss = new WebSocketServer({ noServer: true, maxPayload: MAX_AGENT_MESSAGE_BYTES });
  readonly #mux: NetServer;
  readonly #unsubscribe: () => void;
  readonly #idleTimer: NodeJS.Timeout;
  readonly #recheckTimer: NodeJS.Timeout;
  #rechecking = false;
  /**
   * Every TCP connection of the listener: the HTTP servers behind the mux never
   * listen, so neither their close nor their header and request timeouts reach
   * these; the deadlines below do.
   */
  readonly #connections = new Map<Socket, Connection>();
  /** Not-yet-upgraded connections per source address. */
  readonly #pendingByAddress = new Map<string, number>();
  /** TLS sockets of the mTLS side that carry a WebSocket: exempt from the upgrade deadline. */
  readonly #upgraded = new WeakSet<Duplex>();
  readonly #limits: Required<GatewayLimits>;
  #joinContext: SecureContext;

  constructor(
    private readonly deps: GatewayDeps,
    private readonly caPem: string,
    cert: ListenerCertificate,
  ) {
    this.#limits = {
      helloTimeoutMs: deps.helloTimeoutMs ?? GATEWAY_DEFAULTS.helloTimeoutMs,
      handshakeTimeoutMs: deps.handshakeTimeoutMs ?? GATEWAY_DEFAULTS.handshakeTimeoutMs,
      joinDeadlineMs: deps.joinDeadlineMs ?? GATEWAY_DEFAULTS.joinDeadlineMs,
      upgradeDeadlineMs: deps.upgradeDeadlineMs ?? GATEWAY_DEFAULTS.upgradeDeadlineMs,
      maxConnections: deps.maxConnections ?? GATEWAY_DEFAULTS.maxConnections,
      maxPendingConnectionsPerAddress: deps.maxPendingConnectionsPerAddress ?? GATEWAY_DEFAULTS.maxPendingConnectionsPerAddress,
      certRecheckIntervalMs: deps.certRecheckIntervalMs ?? GATEWAY_DEFAULTS.certRecheckIntervalMs,
    };
    this.#mtls = createHttpsServer({
      ...this.#tlsOptions(cert),
      ca: caPem,
      requestCert: true,
      rejectUnauthorized: true,
      handshakeTimeout: this.#limits.handshakeTimeoutMs,
    });
    // Join requests are one-shot: the answer closes the connection.
    this.#joinHttp.maxRequestsPerSocket = 1;
    this.#mtls.on('secureConnection', (tls: TLSSocket) => this.#onSecureConnection(tls));
    this.#mtls.on('request', (_req: IncomingMessage, res: ServerResponse) => {
      sendJson(res, 404, errorBody(new BulwarkError('NOT_FOUND', `agents connect with a WebSocket at ${AGENT_CONNECT_PATH}`)));
    });
    this.#mtls.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      void this.#onUpgrade(req, socket as TLSSocket, head).catch((err: unknown) => rejectUpgrade(socket, err, deps.log));
    });
    this.#mtls.on('tlsClientError', (err, socket) => {
      deps.log.debug({ err: err.message }, 'agent TLS handshake refused');
      socket.destroy();
    });
    this.#joinContext = createSecureContext(this.#tlsOptions(cert));
    this.#mux = createAlpnMux(JOIN_ALPN, (stream) => this.#acceptJoinConnection(stream), this.#mtls, { helloTimeoutMs: this.#limits.helloTimeoutMs });
    // Before the mux's own listener: a connection over a cap is dropped before anything is read from it.
    this.#mux.prependListener('connection', (socket: Socket) => this.#admit(socket));
    this.#unsubscribe = deps.store.notifier.subscribe(NODE_REMOVED_CHANNEL, (nodeId) => {
      this.#sessions.get(nodeId)?.fatal('NODE_REMOVED', 'this node was removed from the fleet; join again with a new token', CLOSE_CODES.removed);
      this.deps.membership.forget(nodeId);
    });
    this.#idleTimer = setInterval(() => this.#dropIdle(), Math.min(deps.idleTimeoutMs, 30_000));
    this.#idleTimer.unref();
    this.#recheckTimer = setInterval(() => void this.recheckSessions(), this.#limits.certRecheckIntervalMs);
    this.#recheckTimer.unref();
  }

  /** Connection caps and the idle timeout, at accept. */
  #admit(socket: Socket): void {
    if (this.#connections.size >= this.#limits.maxConnections) {
      this.deps.log.debug({ limit: this.#limits.maxConnections }, 'agent listener full: connection dropped');
      socket.destroy();
      return;
    }
    const address = socket.remoteAddress ?? 'unknown';
    const pending = this.#pendingByAddress.get(address) ?? 0;
    if (pending >= this.#limits.maxPendingConnectionsPerAddress) {
      this.deps.log.debug({ address, limit: this.#limits.maxPendingConnectionsPerAddress }, 'too many pending connections from one address: dropped');
      socket.destroy();
      return;
    }
    this.#pendingByAddress.set(address, pending + 1);
    const connection: Connection = { address, pending: true };
    this.#connections.set(socket, connection);
    socket.setTimeout(this.deps.idleTimeoutMs, () => socket.destroy());
    socket.once('close', () => {
      this.#settle(connection);
      this.#connections.delete(socket);
    });
  }

  /** The connection no longer counts as pending for its address (it upgraded, or it is gone). */
  #settle(connection: Connection): void {
    if (!connection.pending) return;
    connection.pending = false;
    const left = (this.#pendingByAddress.get(connection.address) ?? 1) - 1;
    if (left <= 0) this.#pendingByAddress.delete(connection.address);
    else this.#pendingByAddress.set(connection.address, left);
  }

  /** A client certificate passed the handshake: the WebSocket upgrade must follow within the deadline. */
  #onSecureConnection(tls: TLSSocket): void {
    const raw = rawSocketOf(tls);
    if (raw) Object.defineProperty(tls, 'remoteAddress', { value: raw.remoteAddress, configurable: true });
    const timer = setTimeout(() => {
      if (this.#upgraded.has(tls)) return;
      this.deps.log.debug({ address: raw?.remoteAddress }, 'no WebSocket upgrade in time: connection dropped');
      tls.destroy();
      raw?.destroy();
    }, this.#limits.upgradeDeadlineMs);
    timer.unref();
    tls.once('close', () => clearTimeout(timer));
  }

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#mux.once('error', reject);
      this.#mux.listen(port, host, () => {
        this.#mux.off('error', reject);
        resolve((this.#mux.address() as AddressInfo).port);
      });
    });
  }

  /** Swaps the listener certificate (renewal) without dropping anyone. */
  setCertificate(cert: ListenerCertificate): void {
    this.#mtls.setSecureContext({ ...this.#tlsOptions(cert), ca: this.caPem });
    this.#joinContext = createSecureContext(this.#tlsOptions(cert));
  }

  /** Secret delivery is built after the gateway (it needs services that need the gateway): sessions see it from now on. */
  attachSecrets(secrets: SessionSecrets): void {
    this.deps.secrets = secrets;
  }

  /** Fleet backups are built after the gateway too: sessions see them from now on. */
  attachBackups(backups: SessionBackups): void {
    this.deps.backups = backups;
  }

  isConnected(nodeId: string): boolean {
    return this.#sessions.has(nodeId);
  }

  /** The live channel of a node on this replica, if it has one (exec sends its commands through it). */
  session(nodeId: string): AgentSession | undefined {
    const session = this.#sessions.get(nodeId);
    return session && !session.closed ? session : undefined;
  }

  get connectionCount(): number {
    return this.#sessions.size;
  }

  async close(): Promise<void> {
    clearInterval(this.#idleTimer);
    clearInterval(this.#recheckTimer);
    this.#unsubscribe();
    const closing = new Promise<void>((resolve) => this.#mux.close(() => resolve()));
    for (const session of this.#sessions.values()) session.ws.close(CLOSE_CODES.shutdown, 'server shutting down');
    for (const session of this.#sessions.values()) session.ws.terminate();
    this.#sessions.clear();
    // closeAllConnections() is a no-op on servers that never listened (both of
    // these are fed by the mux), so idle keep-alive connections would hold
    // the mux's close open until they time out: drop them here.
    for (const socket of this.#connections.keys()) socket.destroy();
    this.#connections.clear();
    this.#pendingByAddress.clear();
    await closing;
  }

  #tlsOptions(cert: ListenerCertificate): { cert: string; key: string; minVersion: TlsMinVersion; ciphers: string } {
    return { cert: cert.chainPem, key: cert.keyPem, minVersion: this.deps.tlsMinVersion, ciphers: TLS_CIPHERS };
  }

  #acceptJoinConnection(stream: ReplayStream): void {
    const tls = new TLSSocket(stream, { isServer: true, secureContext: this.#joinContext, ALPNProtocols: [JOIN_ALPN], requestCert: false });
    // The TLS socket cannot see the peer address through the replay stream; rate limits need it.
    Object.defineProperty(tls, 'remoteAddress', { value: stream.remoteAddress });
    const drop = (): void => {
      tls.destroy();
      stream.socket.destroy();
    };
    const handshake = setTimeout(drop, this.#limits.handshakeTimeoutMs);
    // One deadline for the whole exchange: a caller that trickles headers or a body
    // (the HTTP server behind the mux never listens, so its own timeouts never run) is cut off.
    const deadline = setTimeout(() => {
      this.deps.log.debug({ address: stream.remoteAddress }, 'join connection over its deadline: dropped');
      drop();
    }, this.#limits.joinDeadlineMs);
    deadline.unref();
    tls.once('secure', () => {
      clearTimeout(handshake);
      this.#joinHttp.emit('connection', tls);
    });
    tls.on('error', () => {
      clearTimeout(handshake);
      drop();
    });
    // A peer may hang up mid-handshake without an error (fetchPinnedCa does, once it has the chain).
    const clear = (): void => {
      clearTimeout(handshake);
      clearTimeout(deadline);
    };
    tls.once('close', clear);
    stream.socket.once('close', clear);
  }

  async #onJoinRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.setHeader('connection', 'close');
    try {
      if (req.url !== JOIN_PATH) throw new BulwarkError('NOT_FOUND', `only POST ${JOIN_PATH} is served to agents without a certificate`);
      if (req.method !== 'POST') throw new BulwarkError('BAD_REQUEST', `use POST for ${JOIN_PATH}`);
      const parsed = JoinRequestSchema.safeParse(await readJsonBody(req, JOIN_BODY_LIMIT));
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new BulwarkError('BAD_REQUEST', `invalid join request: ${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'invalid'}`);
      }
      const source = req.socket.remoteAddress ?? 'unknown';
      sendJson(res, 200, await this.deps.enrollment.join(parsed.data, source));
    } catch (err) {
      sendError(res, err, this.deps.log);
    }
  }

  async #onUpgrade(req: IncomingMessage, socket: TLSSocket, head: Buffer): Promise<void> {
    const path = (req.url ?? '').split('?')[0];
    if (path !== AGENT_CONNECT_PATH) throw new BulwarkError('NOT_FOUND', `no WebSocket at ${path ?? ''}`);
    const peer = socket.getPeerCertificate();
    if (!socket.authorized || !peer?.serialNumber) throw new BulwarkError('UNAUTHENTICATED', 'a client certificate of this cluster is required');
    const uri = (peer.subjectaltname ?? '').split(', ').find((s) => s.startsWith('URI:'))?.slice(4) ?? '';
    const identity = parseNodeSpiffeId(uri);
    if (!identity || identity.clusterName !== this.deps.clusterName) {
      throw new BulwarkError('CERT_UNKNOWN', 'the client certificate names no node of this cluster');
    }
    const record = await this.deps.pki.checkNodeCertificate(peer.serialNumber, identity.nodeId);
    const node = await getNode(this.deps.store.db, identity.nodeId);
    if (!node) throw new BulwarkError('CERT_UNKNOWN', `node ${identity.nodeId} does not exist`);
    if (node.state === 'removed') throw new BulwarkError('NODE_REMOVED', 'this node was removed from the fleet; join again with a new token');
    // The agent proves it holds the renewed certificate by connecting with it;
    // only then are its older certificates revoked, so a crash mid-renewal cannot lock it out.
    const superseded = await revokeNodeCertificatesExcept(this.deps.store.db, node.id, [record.serial], this.deps.clock.now(), 'superseded', { issuedUpTo: record.issuedAt });
    if (superseded.length > 0) this.deps.pki.revocationsChanged();
    for (const serial of superseded) await this.deps.events.append('cert.revoked', node.id, { serial, reason: 'superseded' });
    const spkiDer = peerSpki(peer.raw);
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      this.#upgraded.add(socket);
      const raw = rawSocketOf(socket);
      const connection = raw && this.#connections.get(raw);
      if (connection) this.#settle(connection);
      const previous = this.#sessions.get(node.id);
      const session = new AgentSession(ws, node, { serial: record.serial, notBefore: record.notBefore, notAfter: record.notAfter, spkiDer }, this.deps, (closed) => {
        if (this.#sessions.get(closed.nodeId) === closed) {
          this.#sessions.delete(closed.nodeId);
          this.deps.membership.disconnected(closed.nodeId);
          this.deps.onAgentDisconnected?.(closed.nodeId);
          this.deps.secrets?.forget(closed.nodeId);
          this.deps.backups?.forget(closed.nodeId);
        }
      });
      this.#sessions.set(node.id, session);
      previous?.fatal('CONFLICT', 'superseded by a newer connection of the same node', CLOSE_CODES.superseded);
      // A removal that landed between the checks above and now published its notification
      // before this session existed: look again, so it cannot keep a live channel.
      void getNode(this.deps.store.db, node.id)
        .then((now) => {
          if (!now || now.state === 'removed') session.fatal('NODE_REMOVED', 'this node was removed from the fleet; join again with a new token', CLOSE_CODES.removed);
        })
        .catch((err: unknown) => {
          this.deps.log.error({ err, nodeId: node.id }, 're-reading a node after its upgrade failed');
          session.fatal('INTERNAL', 'internal error; the server log has the detail', 1011);
        });
    });
  }

  /**
   * Re-checks every live session against the database in batched queries: a
   * certificate revoked or a node removed on a replica whose notification was
   * missed still closes the channel here within one interval.
   */
  async recheckSessions(): Promise<void> {
    if (this.#rechecking) return;
    this.#rechecking = true;
    try {
      const sessions = [...this.#sessions.values()].filter((s) => !s.closed);
      for (let i = 0; i < sessions.length; i += RECHECK_CHUNK) {
        const chunk = sessions.slice(i, i + RECHECK_CHUNK);
        const rows = await this.deps.store.db
          .selectFrom('certificates')
          .innerJoin('nodes', 'nodes.id', 'certificates.node_id')
          .select(['certificates.serial', 'certificates.node_id', 'certificates.revoked_at', 'certificates.not_after', 'nodes.state'])
          .where(
            'certificates.serial',
            'in',
            chunk.map((s) => s.certSerial),
          )
          .execute();
        const bySerial = new Map(rows.map((r) => [r.serial, r]));
        const now = this.deps.clock.now();
        for (const session of chunk) {
          const row = bySerial.get(session.certSerial);
          if (!row || row.node_id !== session.nodeId) {
            session.fatal('CERT_UNKNOWN', `certificate ${session.certSerial} is not known for node ${session.nodeId}`, CLOSE_CODES.revoked);
          } else if (row.state === 'removed') {
            session.fatal('NODE_REMOVED', 'this node was removed from the fleet; join again with a new token', CLOSE_CODES.removed);
          } else if (row.revoked_at !== null) {
            session.fatal('CERT_REVOKED', `certificate ${session.certSerial} was revoked`, CLOSE_CODES.revoked);
          } else if (row.not_after <= now) {
            session.fatal('CERT_REVOKED', CERT_EXPIRED_MESSAGE, CLOSE_CODES.revoked);
          }
        }
      }
    } catch (err) {
      this.deps.log.error({ err }, 're-checking live agent sessions failed');
    } finally {
      this.#rechecking = false;
    }
  }

  #dropIdle(): void {
    const cutoff = this.deps.clock.now() - this.deps.idleTimeoutMs;
    for (const session of this.#sessions.values()) {
      if (session.lastMessageAt < cutoff) session.ws.terminate();
    }
  }
}

/**
 * The TCP connection under a TLS socket of the mTLS side. The https server wraps
 * the mux's ReplayStream itself and keeps no public link to it; Node's TLS wrap
 * holds it as `_handle._parentWrap.stream` (stable since Node 10). Undefined if
 * that ever changes: the caps then count such a connection until it closes.
 */
function rawSocketOf(tls: Duplex): Socket | undefined {
  const stream = (tls as unknown as { _handle?: { _parentWrap?: { stream?: unknown } } })._handle?._parentWrap?.stream;
  return stream instanceof ReplayStream ? stream.socket : undefined;
}

/** DER SubjectPublicKeyInfo of a peer certificate (from its DER). */
function peerSpki(der: Buffer): Buffer {
  return new X509Certificate(der).publicKey.export({ type: 'spki', format: 'der' });
}

function rejectUpgrade(socket: Duplex, err: unknown, log: Logger): void {
  const error = isBulwarkError(err) ? err : new BulwarkError('INTERNAL', 'internal error; the server log has the detail');
  if (!isBulwarkError(err)) log.error({ err }, 'agent upgrade failed');
  else log.info({ code: error.code, reason: error.message }, 'agent connection refused');
  const body = JSON.stringify(errorBody(error));
  socket.end(
    `HTTP/1.1 ${error.status} ${error.status === 404 ? 'Not Found' : error.status === 401 ? 'Unauthorized' : error.status >= 500 ? 'Internal Server Error' : 'Forbidden'}\r\n` +
      `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}
