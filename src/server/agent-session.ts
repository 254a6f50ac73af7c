import type { WebSocket, RawData } from 'ws';
import type { Clock } from '../core/clock.js';
import { isBulwarkError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { AgentMessageSchema, CLOSE_CODES, negotiateProtocol, type AgentMessage, type ServerMessage } from '../protocol/agent.js';
import { factsHash } from '../protocol/facts.js';
import type { NodeState } from '../protocol/api.js';
import type { Store } from '../store/open.js';
import { setAgentInfo, setFacts, type NodeRecord } from '../store/nodes.js';
import type { EventLog } from './event-log.js';
import type { Membership } from './membership.js';
import type { PkiService } from './pki-service.js';

export interface SessionDeps {
  store: Store;
  clock: Clock;
  log: Logger;
  events: EventLog;
  membership: Membership;
  pki: PkiService;
  heartbeatIntervalMs: number;
}

const HELLO_TIMEOUT_MS = 10_000;

/** One agent's WebSocket: hello, heartbeats, facts and certificate renewal. */
export class AgentSession {
  readonly nodeId: string;
  lastMessageAt: number;
  #protocolVersion: number | undefined;
  #factsHash: string | null;
  readonly #initialState: NodeState;
  readonly #known: { agentVersion: string | null; protocolVersion: number | null };
  readonly #helloTimer: NodeJS.Timeout;

  constructor(
    readonly ws: WebSocket,
    node: NodeRecord,
    /** Serial of the certificate this connection was opened with. */
    readonly certSerial: string,
    private readonly deps: SessionDeps,
    private readonly onClose: (session: AgentSession) => void,
  ) {
    this.nodeId = node.id;
    this.#factsHash = node.factsHash;
    this.#initialState = node.state;
    this.#known = { agentVersion: node.agentVersion, protocolVersion: node.protocolVersion };
    this.lastMessageAt = deps.clock.now();
    this.#helloTimer = setTimeout(() => this.fatal('BAD_REQUEST', 'no hello within 10 s', CLOSE_CODES.protocol), HELLO_TIMEOUT_MS);
    this.#helloTimer.unref();
    ws.on('message', (data: RawData) => {
      void this.#onMessage(data).catch((err: unknown) => this.#fail(err));
    });
    ws.on('close', () => {
      clearTimeout(this.#helloTimer);
      this.onClose(this);
    });
    ws.on('error', (err) => deps.log.debug({ err, nodeId: this.nodeId }, 'agent socket error'));
  }

  send(message: ServerMessage): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(JSON.stringify(message));
  }

  /** Tells the agent why it is being dropped, then closes; `fatal` tells it not to come back. */
  fatal(code: string, message: string, closeCode: number, requestId?: string): void {
    this.send({ type: 'error', code, message, fatal: true, ...(requestId ? { requestId } : {}) });
    this.ws.close(closeCode, code);
  }

  async #onMessage(data: RawData): Promise<void> {
    this.lastMessageAt = this.deps.clock.now();
    let parsed: unknown;
    try {
      parsed = JSON.parse(data.toString());
    } catch {
      this.fatal('BAD_REQUEST', 'message is not JSON', CLOSE_CODES.protocol);
      return;
    }
    const result = AgentMessageSchema.safeParse(parsed);
    if (!result.success) {
      const issue = result.error.issues[0];
      this.fatal('BAD_REQUEST', `invalid message: ${issue?.path.join('.') ?? ''} ${issue?.message ?? ''}`.trim(), CLOSE_CODES.protocol);
      return;
    }
    const msg = result.data;
    if (this.#protocolVersion === undefined && msg.type !== 'hello') {
      this.fatal('BAD_REQUEST', `expected hello, got ${msg.type}`, CLOSE_CODES.protocol);
      return;
    }
    await this.#handle(msg);
  }

  async #handle(msg: AgentMessage): Promise<void> {
    switch (msg.type) {
      case 'hello':
        return this.#hello(msg.protocolVersions, msg.agentVersion);
      case 'heartbeat':
        this.send({ type: 'heartbeat_ack', seq: msg.seq, serverTime: this.deps.clock.now() });
        return this.deps.membership.heartbeat(this.nodeId);
      case 'facts': {
        const hash = factsHash(msg.facts);
        if (hash === this.#factsHash) return;
        this.#factsHash = hash;
        await setFacts(this.deps.store.db, this.nodeId, msg.facts, hash);
        await this.deps.events.append('node.facts_changed', this.nodeId, { hostname: msg.facts.hostname });
        return;
      }
      case 'renew': {
        try {
          // The connection may have outlived its certificate's revocation: check again before issuing.
          await this.deps.pki.checkNodeCertificate(this.certSerial, this.nodeId);
          const cert = await this.deps.pki.issueNodeCertificate(this.nodeId, msg.csr);
          this.send({ type: 'renewed', requestId: msg.requestId, certificate: cert.pem, notAfter: cert.notAfter });
          await this.deps.events.append('cert.renewed', this.nodeId, { serial: cert.serial, notAfter: cert.notAfter });
        } catch (err) {
          if (!isBulwarkError(err)) throw err;
          if (err.code === 'CERT_REVOKED' || err.code === 'CERT_UNKNOWN') {
            this.fatal(err.code, err.message, CLOSE_CODES.revoked, msg.requestId);
            return;
          }
          this.send({ type: 'error', requestId: msg.requestId, code: err.code, message: err.message, fatal: false });
        }
        return;
      }
    }
  }

  async #hello(offered: number[], agentVersion: string): Promise<void> {
    if (this.#protocolVersion !== undefined) return;
    const version = negotiateProtocol(offered);
    if (version === undefined) {
      this.fatal('PROTOCOL_UNSUPPORTED', `server speaks protocol versions [1]; agent offered [${offered.join(', ')}]: upgrade the older side`, CLOSE_CODES.protocol);
      return;
    }
    clearTimeout(this.#helloTimer);
    this.#protocolVersion = version;
    // A fleet reconnecting after a server restart should not rewrite what has not changed.
    if (this.#known.agentVersion !== agentVersion || this.#known.protocolVersion !== version) {
      await setAgentInfo(this.deps.store.db, this.nodeId, { agentVersion, protocolVersion: version });
    }
    await this.deps.membership.connected(this.nodeId, this.#initialState);
    this.send({
      type: 'welcome',
      protocolVersion: version,
      nodeId: this.nodeId,
      heartbeatIntervalMs: this.deps.heartbeatIntervalMs,
      serverTime: this.deps.clock.now(),
    });
  }

  #fail(err: unknown): void {
    this.deps.log.error({ err, nodeId: this.nodeId }, 'agent message failed');
    this.fatal('INTERNAL', 'internal error; the server log has the detail', 1011);
  }
}
