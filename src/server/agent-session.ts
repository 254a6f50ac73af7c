import type { WebSocket, RawData } from 'ws';
import type { Clock } from '../core/clock.js';
import { BulwarkError, isBulwarkError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { AgentMessageSchema, CLOSE_CODES, negotiateProtocol, type AgentMessage, type ExecExit, type ExecOutput, type ExecRequest, type ServerMessage } from '../protocol/agent.js';
import { factsHash, type NodeFacts } from '../protocol/facts.js';
import type { NodeState } from '../protocol/api.js';
import type { BackupPolicies, BackupRestoreRequest, BackupRestoreResult, BackupRunMessage, BackupTrigger, DrillRequest, DrillResultMessage } from '../protocol/backup.js';
import type { AuditRequest, AuditResultMessage } from '../protocol/checks.js';
import type { SecretFetch, SecretValue, SecretsManifest, StatusItem } from '../protocol/secret-delivery.js';
import type { Store } from '../store/open.js';
import { parseVerifiedCsr } from '../pki/csr.js';
import { getNode, setAgentInfo, setFacts, type NodeRecord } from '../store/nodes.js';
import { revokeCertificate, revokeNodeCertificatesExcept } from '../store/certificates.js';
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
  /** Facts updates beyond one per this interval and session are dropped. Default 10 s. */
  factsMinIntervalMs?: number;
  /** Where a node's audit answers go (the audit service); absent: dropped. */
  onAuditResult?: (nodeId: string, result: AuditResultMessage) => Promise<void>;
  /** Secret delivery (attached once the service exists); absent: no manifests, fetches refused. */
  secrets?: SessionSecrets;
  /** Fleet backups (attached once the service exists); absent: no policies, reports dropped. */
  backups?: SessionBackups;
}

/** What a session asks of fleet backups (the backup service). */
export interface SessionBackups {
  /** The policies the node should run now and a hash of them, from the replica's caches; undefined when the node is gone. */
  manifest(nodeId: string): Promise<{ hash: string; message: BackupPolicies } | undefined>;
  /** The policies were sent to the node (audited: they carry repository credentials). */
  delivered(nodeId: string, message: BackupPolicies): Promise<void>;
  onRun(nodeId: string, run: BackupRunMessage): Promise<void>;
  onDrill(nodeId: string, drill: DrillResultMessage): Promise<void>;
  /** The node's channel to this replica closed. */
  forget(nodeId: string): void;
}

/** What a backup request in flight on a session hears: its answer (already recorded), or the channel closing under it. */
export type BackupAnswer = BackupRunMessage | BackupRestoreResult | DrillResultMessage | { type: 'closed' };
export type BackupListener = (answer: BackupAnswer) => void;

/** What a session asks of secret delivery (the secret delivery service). */
export interface SessionSecrets {
  /** What the node should hold now and a hash of it, from the replica's caches; undefined when the node is gone. */
  manifest(nodeId: string): Promise<{ hash: string; message: SecretsManifest } | undefined>;
  /** The value, after checking again that the node may have it; throws BulwarkError otherwise. */
  fetch(nodeId: string, request: SecretFetch): Promise<SecretValue>;
  status(nodeId: string, items: readonly StatusItem[]): Promise<void>;
  /** The node's channel to this replica closed. */
  forget(nodeId: string): void;
}

/** The client certificate a connection was opened with. */
export interface ConnectionCertificate {
  serial: string;
  notBefore: number;
  notAfter: number;
  /** DER SubjectPublicKeyInfo of the certificate: a renewal must bring another key. */
  spkiDer: Buffer;
}

/** What an exec in flight on a session hears: its output, its end, or the channel closing under it. */
export type ExecListener = (event: ExecOutput | ExecExit | { type: 'closed' }) => void;

const HELLO_TIMEOUT_MS = 10_000;
const DEFAULT_FACTS_MIN_INTERVAL_MS = 10_000;
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Secret fetches queued on one channel; a node needs at most one per delivery it holds. */
const MAX_QUEUED_FETCHES = 1000;
const MAX_QUEUED_STATUSES = 16;
/** Backup run and drill reports queued on one channel; an agent sends one per run, so more is a flood. */
const MAX_QUEUED_BACKUP_REPORTS = 64;
export const CERT_EXPIRED_MESSAGE = 'certificate expired; reconnect with a renewed one';

/** One agent's WebSocket: hello, heartbeats, facts and certificate renewal. */
export class AgentSession {
  readonly nodeId: string;
  lastMessageAt: number;
  #protocolVersion: number | undefined;
  /** Serial of the certificate this connection was opened with. */
  readonly certSerial: string;
  #factsHash: string | null;
  #lastFactsAt: number | undefined;
  #renewing = false;
  #closed = false;
  readonly #initialState: NodeState;
  readonly #known: { agentVersion: string | null; protocolVersion: number | null };
  readonly #helloTimer: NodeJS.Timeout;
  #expiryTimer: NodeJS.Timeout | undefined;
  /** Audit requests sent on this channel and not answered yet. */
  readonly #audits = new Set<string>();
  /** Remote commands in flight on this channel, by request id. */
  readonly #execs = new Map<string, ExecListener>();
  #execCloseHooked = false;
  /** Hash of the last secrets manifest sent on this channel. */
  #manifestHash: string | undefined;
  #syncingSecrets = false;
  /** Fetches run one at a time per channel, so a node cannot turn fetches into a flood of decryptions. */
  #fetches: Promise<void> = Promise.resolve();
  #queuedFetches = 0;
  /** Status reports are written one at a time too; a node sends one per manifest, so a long queue is a flood. */
  #statuses: Promise<void> = Promise.resolve();
  #queuedStatuses = 0;
  /** Hash of the last backup policies sent on this channel. */
  #backupsHash: string | undefined;
  #backupSync: Promise<void> | undefined;
  /** Restores, drills and on-demand runs in flight on this channel, by request id. */
  readonly #backupRequests = new Map<string, BackupListener>();
  #backupCloseHooked = false;
  #backupReports: Promise<void> = Promise.resolve();
  #queuedBackupReports = 0;

  constructor(
    readonly ws: WebSocket,
    node: NodeRecord,
    readonly cert: ConnectionCertificate,
    private readonly deps: SessionDeps,
    private readonly onClose: (session: AgentSession) => void,
  ) {
    this.nodeId = node.id;
    this.certSerial = cert.serial;
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
      this.#closed = true;
      clearTimeout(this.#helloTimer);
      clearTimeout(this.#expiryTimer);
      this.onClose(this);
    });
    // A channel must not outlive the certificate it was opened with.
    this.#armExpiry();
    ws.on('error', (err) => deps.log.debug({ err, nodeId: this.nodeId }, 'agent socket error'));
  }

  get closed(): boolean {
    return this.#closed;
  }

  #armExpiry(): void {
    const left = this.cert.notAfter - this.deps.clock.now();
    if (left <= 0) {
      this.fatal('CERT_REVOKED', CERT_EXPIRED_MESSAGE, CLOSE_CODES.revoked);
      return;
    }
    // Timers take at most 2^31-1 ms: a longer lifetime re-arms on the way.
    this.#expiryTimer = setTimeout(() => this.#armExpiry(), Math.min(left, MAX_TIMER_MS));
    this.#expiryTimer.unref();
  }

  /**
   * Sends an `exec` and routes its `exec_output` / `exec_exit` to `listener`,
   * which also hears `closed` if the channel goes first. Returns a function that
   * stops listening (the command itself runs on).
   */
  startExec(request: Omit<ExecRequest, 'type'>, listener: ExecListener): () => void {
    if (this.#closed || this.ws.readyState !== this.ws.OPEN) {
      listener({ type: 'closed' });
      return () => undefined;
    }
    if (!this.#execCloseHooked) {
      this.#execCloseHooked = true;
      this.ws.once('close', () => this.#closeExecs());
    }
    this.#execs.set(request.requestId, listener);
    this.send({ type: 'exec', ...request });
    return () => {
      if (this.#execs.get(request.requestId) === listener) this.#execs.delete(request.requestId);
    };
  }

  #closeExecs(): void {
    const listeners = [...this.#execs.values()];
    this.#execs.clear();
    for (const listener of listeners) listener({ type: 'closed' });
  }

  /** Sends an audit request; only requests sent this way are answered through this channel. */
  sendAudit(request: AuditRequest): void {
    // Bounded: a request left unanswered (the agent restarted) is forgotten with the oldest.
    if (this.#audits.size >= 64) this.#audits.delete(this.#audits.values().next().value as string);
    this.#audits.add(request.requestId);
    this.send(request);
  }

  /**
   * Sends a restore, drill or on-demand backup and routes its answer to
   * `listener` (a run or drill is recorded first), which also hears `closed`
   * if the channel goes first. The node's policies are brought up to date
   * before, so a policy created a moment ago is known to the agent. Returns a
   * function that stops listening (the work itself goes on).
   */
  async startBackupRequest(request: BackupTrigger | BackupRestoreRequest | DrillRequest, listener: BackupListener): Promise<() => void> {
    await this.#syncBackups(true);
    if (this.#closed || this.ws.readyState !== this.ws.OPEN) {
      listener({ type: 'closed' });
      return () => undefined;
    }
    if (!this.#backupCloseHooked) {
      this.#backupCloseHooked = true;
      this.ws.once('close', () => {
        const listeners = [...this.#backupRequests.values()];
        this.#backupRequests.clear();
        for (const l of listeners) l({ type: 'closed' });
      });
    }
    this.#backupRequests.set(request.requestId, listener);
    this.send(request);
    return () => {
      if (this.#backupRequests.get(request.requestId) === listener) this.#backupRequests.delete(request.requestId);
    };
  }

  send(message: ServerMessage): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(JSON.stringify(message));
  }

  /** Tells the agent why it is being dropped, then closes; `fatal` tells it not to come back. */
  fatal(code: string, message: string, closeCode: number, requestId?: string): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#expiryTimer);
    this.send({ type: 'error', code, message, fatal: true, ...(requestId ? { requestId } : {}) });
    this.ws.close(closeCode, code);
    // A peer that never answers the close handshake is cut off rather than kept.
    setTimeout(() => this.ws.terminate(), 5_000).unref();
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
        await this.deps.membership.heartbeat(this.nodeId);
        // A changed manifest reaches the node within one heartbeat; an unchanged one costs a cache lookup.
        await this.#syncSecrets();
        return this.#syncBackups(false);
      case 'backup_run':
      case 'drill_result':
        return this.#backupReport(msg);
      case 'backup_restore_result': {
        const listener = this.#backupRequests.get(msg.requestId);
        this.#backupRequests.delete(msg.requestId);
        listener?.(msg);
        return;
      }
      case 'secret_fetch':
        return this.#secretFetch(msg);
      case 'secret_status':
        return this.#secretStatus(msg.items);
      case 'facts':
        return this.#facts(msg.facts);
      case 'exec_output':
      case 'exec_exit': {
        // Replies to a request this channel did not carry (an earlier connection's) are dropped.
        const listener = this.#execs.get(msg.requestId);
        if (msg.type === 'exec_exit') this.#execs.delete(msg.requestId);
        listener?.(msg);
        return;
      }
      case 'audit_result':
        // An answer to nothing this channel carried costs a log line, not a database round trip.
        if (!this.#audits.delete(msg.requestId)) {
          this.deps.log.warn({ nodeId: this.nodeId, requestId: msg.requestId }, 'audit result for a request this channel did not carry; dropped');
          return;
        }
        if (this.deps.onAuditResult) await this.deps.onAuditResult(this.nodeId, msg);
        return;
      case 'renew': {
        if (this.#renewing) {
          this.send({ type: 'error', requestId: msg.requestId, code: 'CONFLICT', message: 'a renewal is already in progress on this connection', fatal: false });
          return;
        }
        this.#renewing = true;
        try {
          await this.#renew(msg.requestId, msg.csr);
        } catch (err) {
          if (!isBulwarkError(err)) throw err;
          if (err.code === 'CERT_REVOKED' || err.code === 'CERT_UNKNOWN') {
            this.fatal(err.code, err.message, CLOSE_CODES.revoked, msg.requestId);
            return;
          }
          this.send({ type: 'error', requestId: msg.requestId, code: err.code, message: err.message, fatal: false });
        } finally {
          this.#renewing = false;
        }
        return;
      }
    }
  }

  /** Sends the node its secrets manifest if it differs from the last one sent on this channel. */
  async #syncSecrets(): Promise<void> {
    const secrets = this.deps.secrets;
    if (!secrets || this.#syncingSecrets || this.#closed) return;
    this.#syncingSecrets = true;
    try {
      const manifest = await secrets.manifest(this.nodeId);
      // Nothing is sent when it cannot be known: an empty manifest would make the node delete its files.
      if (manifest && manifest.hash !== this.#manifestHash) {
        this.#manifestHash = manifest.hash;
        this.send(manifest.message);
      }
    } catch (err) {
      this.deps.log.error({ err, nodeId: this.nodeId }, 'computing the secrets manifest failed; retried at the next heartbeat');
    } finally {
      this.#syncingSecrets = false;
    }
  }

  /**
   * Sends the node its backup policies if they differ from the last ones sent
   * on this channel. `force` waits for a sync in flight and syncs again (a
   * request is about to name a policy); a heartbeat just skips.
   */
  async #syncBackups(force: boolean): Promise<void> {
    const backups = this.deps.backups;
    if (!backups || this.#closed) return;
    if (this.#backupSync) {
      if (!force) return;
      await this.#backupSync;
    }
    const sync = (async () => {
      try {
        const manifest = await backups.manifest(this.nodeId);
        if (manifest && manifest.hash !== this.#backupsHash && !this.#closed) {
          // On record before it leaves (it carries credentials): a log that cannot take it stops the delivery.
          await backups.delivered(this.nodeId, manifest.message);
          this.#backupsHash = manifest.hash;
          this.send(manifest.message);
        }
      } catch (err) {
        this.deps.log.error({ err, nodeId: this.nodeId }, 'computing the backup policies of a node failed; retried at the next heartbeat');
      }
    })();
    this.#backupSync = sync;
    try {
      await sync;
    } finally {
      if (this.#backupSync === sync) this.#backupSync = undefined;
    }
  }

  /** Records a run or drill report (one at a time per channel), then tells whoever asked for it. */
  #backupReport(msg: BackupRunMessage | DrillResultMessage): void {
    const backups = this.deps.backups;
    if (!backups) return;
    if (this.#queuedBackupReports >= MAX_QUEUED_BACKUP_REPORTS) {
      this.deps.log.warn({ nodeId: this.nodeId }, 'backup report dropped: too many queued on this connection');
      return;
    }
    this.#queuedBackupReports += 1;
    this.#backupReports = this.#backupReports.then(async () => {
      try {
        if (msg.type === 'backup_run') await backups.onRun(this.nodeId, msg);
        else await backups.onDrill(this.nodeId, msg);
      } catch (err) {
        this.deps.log.error({ err, nodeId: this.nodeId }, 'recording a backup report failed');
      } finally {
        this.#queuedBackupReports -= 1;
      }
      if (msg.requestId === undefined) return;
      const listener = this.#backupRequests.get(msg.requestId);
      this.#backupRequests.delete(msg.requestId);
      listener?.(msg);
    });
  }

  #secretFetch(msg: SecretFetch): void {
    const secrets = this.deps.secrets;
    const refuse = (code: string, message: string): void => this.send({ type: 'error', requestId: msg.requestId, code, message, fatal: false });
    if (!secrets) return refuse('NOT_FOUND', 'secret delivery is not available on this server');
    if (this.#queuedFetches >= MAX_QUEUED_FETCHES) return refuse('RATE_LIMITED', `more than ${MAX_QUEUED_FETCHES} secret fetches queued on this connection`);
    this.#queuedFetches += 1;
    this.#fetches = this.#fetches.then(async () => {
      try {
        if (!this.#closed) this.send(await secrets.fetch(this.nodeId, msg));
      } catch (err) {
        if (isBulwarkError(err)) refuse(err.code, err.message);
        else {
          this.deps.log.error({ err, nodeId: this.nodeId }, 'a secret fetch failed');
          refuse('INTERNAL', 'internal error; the server log has the detail');
        }
      } finally {
        this.#queuedFetches -= 1;
      }
    });
  }

  #secretStatus(items: readonly StatusItem[]): void {
    const secrets = this.deps.secrets;
    if (!secrets) return;
    if (this.#queuedStatuses >= MAX_QUEUED_STATUSES) {
      this.deps.log.warn({ nodeId: this.nodeId }, 'secret status report dropped: too many queued on this connection');
      return;
    }
    this.#queuedStatuses += 1;
    this.#statuses = this.#statuses.then(async () => {
      try {
        await secrets.status(this.nodeId, items);
      } catch (err) {
        // Losing a report costs a stale status, not the node its channel: the next reconnect reports everything again.
        this.deps.log.error({ err, nodeId: this.nodeId }, 'recording secret delivery status failed');
      } finally {
        this.#queuedStatuses -= 1;
      }
    });
  }

  async #facts(facts: NodeFacts): Promise<void> {
    // One update per interval and session: a node cannot turn its channel into a write flood.
    const now = this.deps.clock.now();
    const minInterval = this.deps.factsMinIntervalMs ?? DEFAULT_FACTS_MIN_INTERVAL_MS;
    if (this.#lastFactsAt !== undefined && now - this.#lastFactsAt < minInterval) {
      this.deps.log.debug({ nodeId: this.nodeId }, 'facts update dropped: more than one in the interval');
      return;
    }
    const hash = factsHash(facts);
    if (hash === this.#factsHash) return;
    this.#lastFactsAt = now;
    this.#factsHash = hash;
    if (!(await setFacts(this.deps.store.db, this.nodeId, facts, hash))) return;
    // Bounded by the schema (253 characters); the event carries nothing else the node chose.
    await this.deps.events.append('node.facts_changed', this.nodeId, { hostname: facts.hostname.slice(0, 253) });
  }

  async #renew(requestId: string, csrPem: string): Promise<void> {
    // The connection may have outlived its certificate's revocation: check again before issuing.
    const current = await this.deps.pki.checkNodeCertificate(this.certSerial, this.nodeId);
    const now = this.deps.clock.now();
    // The agent renews at 2/3 of the lifetime; before half of it a renewal is a flood, not a need.
    const earliest = current.notBefore + Math.floor((current.notAfter - current.notBefore) / 2);
    if (now < earliest) {
      throw new BulwarkError(
        'RATE_LIMITED',
        `renewal refused: this certificate has used less than half of its lifetime; renew after ${new Date(earliest).toISOString()}`,
        { retryAfterMs: earliest - now },
      );
    }
    const csr = await parseVerifiedCsr(csrPem);
    if (Buffer.from(csr.publicKey.rawData).equals(this.cert.spkiDer)) {
      throw new BulwarkError('INVALID_CSR', 'a renewal needs a fresh key pair: the CSR carries the key of the current certificate');
    }
    const cert = await this.deps.pki.issueNodeCertificate(this.nodeId, csrPem);
    // A removal that raced this renewal must not leave a valid certificate behind.
    const node = await getNode(this.deps.store.db, this.nodeId);
    if (!node || node.state === 'removed') {
      if (await revokeCertificate(this.deps.store.db, cert.serial, this.deps.clock.now(), 'node removed')) {
        this.deps.pki.revocationsChanged();
        await this.deps.events.append('cert.revoked', this.nodeId, { serial: cert.serial, reason: 'node removed' });
      }
      this.fatal('NODE_REMOVED', 'this node was removed from the fleet; join again with a new token', CLOSE_CODES.removed, requestId);
      return;
    }
    // At most two certificates stay valid: the one in use here and the new one.
    const superseded = await revokeNodeCertificatesExcept(this.deps.store.db, this.nodeId, [this.certSerial, cert.serial], this.deps.clock.now(), 'superseded');
    this.deps.pki.revocationsChanged();
    this.send({ type: 'renewed', requestId, certificate: cert.pem, notAfter: cert.notAfter });
    await this.deps.events.append('cert.renewed', this.nodeId, { serial: cert.serial, notAfter: cert.notAfter });
    for (const serial of superseded) await this.deps.events.append('cert.revoked', this.nodeId, { serial, reason: 'superseded' });
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
    // The node may have been removed while this connection was being set up.
    const node = await getNode(this.deps.store.db, this.nodeId);
    if (!node || node.state === 'removed') {
      this.fatal('NODE_REMOVED', 'this node was removed from the fleet; join again with a new token', CLOSE_CODES.removed);
      return;
    }
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
    await this.#syncSecrets();
    await this.#syncBackups(false);
  }

  #fail(err: unknown): void {
    this.deps.log.error({ err, nodeId: this.nodeId }, 'agent message failed');
    this.fatal('INTERNAL', 'internal error; the server log has the detail', 1011);
  }
}
