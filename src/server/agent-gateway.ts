import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
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
import { AgentSession, type SessionDeps } from './agent-session.js';
import type { Enrollment } from './enrollment.js';
import type { ListenerCertificate } from './pki-service.js';
import { NODE_REMOVED_CHANNEL } from './node-service.js';
import { readJsonBody, sendError, sendJson } from './http-json.js';
import { createAlpnMux, type ReplayStream } from './tls-mux.js';
import type { TlsMinVersion } from './options.js';

const JOIN_BODY_LIMIT = 64 * 1024;
const HANDSHAKE_TIMEOUT_MS = 10_000;

export interface GatewayDeps extends SessionDeps {
  enrollment: Enrollment;
  clusterName: string;
  tlsMinVersion: TlsMinVersion;
  /** Silence after which a connection is presumed dead and dropped. */
  idleTimeoutMs: number;
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
  /** Every TCP connection of the listener: the HTTP servers behind the mux never listen, so they cannot close them. */
  readonly #sockets = new Set<Socket>();
  #joinContext: SecureContext;

  constructor(
    private readonly deps: GatewayDeps,
    private readonly caPem: string,
    cert: ListenerCertificate,
  ) {
    this.#mtls = createHttpsServer({
      ...this.#tlsOptions(cert),
      ca: caPem,
      requestCert: true,
      rejectUnauthorized: true,
    });
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
    this.#mux = createAlpnMux(JOIN_ALPN, (stream) => this.#acceptJoinConnection(stream), this.#mtls);
    this.#mux.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
    this.#unsubscribe = deps.store.notifier.subscribe(NODE_REMOVED_CHANNEL, (nodeId) => {
      this.#sessions.get(nodeId)?.fatal('NODE_REMOVED', 'this node was removed from the fleet; join again with a new token', CLOSE_CODES.removed);
    });
    this.#idleTimer = setInterval(() => this.#dropIdle(), Math.min(deps.idleTimeoutMs, 30_000));
    this.#idleTimer.unref();
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

  isConnected(nodeId: string): boolean {
    return this.#sessions.has(nodeId);
  }

  get connectionCount(): number {
    return this.#sessions.size;
  }

  async close(): Promise<void> {
    clearInterval(this.#idleTimer);
    this.#unsubscribe();
    const closing = new Promise<void>((resolve) => this.#mux.close(() => resolve()));
    for (const session of this.#sessions.values()) session.ws.close(CLOSE_CODES.shutdown, 'server shutting down');
    for (const session of this.#sessions.values()) session.ws.terminate();
    this.#sessions.clear();
    // closeAllConnections() is a no-op on servers that never listened (both of
    // these are fed by the mux), so idle keep-alive connections would hold
    // the mux's close open until they time out: drop them here.
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
    await closing;
  }

  #tlsOptions(cert: ListenerCertificate): { cert: string; key: string; minVersion: TlsMinVersion } {
    return { cert: cert.chainPem, key: cert.keyPem, minVersion: this.deps.tlsMinVersion };
  }

  #acceptJoinConnection(stream: ReplayStream): void {
    const tls = new TLSSocket(stream, { isServer: true, secureContext: this.#joinContext, ALPNProtocols: [JOIN_ALPN], requestCert: false });
    // The TLS socket cannot see the peer address through the replay stream; rate limits need it.
    Object.defineProperty(tls, 'remoteAddress', { value: stream.remoteAddress });
    const timer = setTimeout(() => tls.destroy(), HANDSHAKE_TIMEOUT_MS);
    tls.once('secure', () => {
      clearTimeout(timer);
      this.#joinHttp.emit('connection', tls);
    });
    tls.on('error', () => {
      clearTimeout(timer);
      tls.destroy();
    });
    // A peer may hang up mid-handshake without an error (fetchPinnedCa does, once it has the chain).
    tls.once('close', () => clearTimeout(timer));
  }

  async #onJoinRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
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
    const superseded = await revokeNodeCertificatesExcept(this.deps.store.db, node.id, record.serial, record.issuedAt, this.deps.clock.now(), 'superseded');
    for (const serial of superseded) await this.deps.events.append('cert.revoked', node.id, { serial, reason: 'superseded' });
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      const previous = this.#sessions.get(node.id);
      const session = new AgentSession(ws, node, record.serial, this.deps, (closed) => {
        if (this.#sessions.get(closed.nodeId) === closed) {
          this.#sessions.delete(closed.nodeId);
          this.deps.membership.disconnected(closed.nodeId);
        }
      });
      this.#sessions.set(node.id, session);
      previous?.fatal('CONFLICT', 'superseded by a newer connection of the same node', CLOSE_CODES.superseded);
    });
  }

  #dropIdle(): void {
    const cutoff = this.deps.clock.now() - this.deps.idleTimeoutMs;
    for (const session of this.#sessions.values()) {
      if (session.lastMessageAt < cutoff) session.ws.terminate();
    }
  }
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
