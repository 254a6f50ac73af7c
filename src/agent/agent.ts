import { EventEmitter } from 'node:events';
import { X509Certificate, createPublicKey, randomUUID } from 'node:crypto';
import { WebSocket } from 'ws';
import { systemClock, type Clock } from '../core/clock.js';
import { BulwarkError } from '../core/errors.js';
import { createLogger, type Logger } from '../core/logger.js';
import { VERSION } from '../core/version.js';
import {
  AGENT_CONNECT_PATH,
  MAX_AGENT_MESSAGE_BYTES,
  SUPPORTED_PROTOCOL_VERSIONS,
  ServerMessageSchema,
  type AgentMessage,
  type ServerMessage,
} from '../protocol/agent.js';
import { factsHash } from '../protocol/facts.js';
import { createCsr } from '../pki/csr.js';
import { certificateInfo, nodeSpiffeId } from '../pki/identity.js';
import { renewalTime } from '../pki/renewal.js';
import { backoffDelay } from './backoff.js';
import { collectFacts } from '../host/collect.js';
import { EXEC_DISABLED_POLICY, ExecRunner } from './exec-runner.js';
import { AuditRunner, DEFAULT_AUDIT_POLICY, type AuditPolicy } from './audit-runner.js';
import { DEFAULT_SECRETS_POLICY, SecretDeliveryRunner, type SecretsPolicy } from './secret-delivery.js';
import { BackupRunner } from './backup-runner.js';
import { loadIdentity, recoverInterruptedRenewal, saveRenewedCertificate, type AgentIdentity } from './identity.js';
import { parseServerUrl } from './join.js';

export interface AgentOptions {
  dataDir: string;
  /** Root of the host the facts are read from; tests point it at a fixture tree. */
  root?: string;
  /** Overrides the server's heartbeat interval (tests). */
  heartbeatIntervalMs?: number;
  /** How often facts are collected and compared. Default 60 s. */
  factsIntervalMs?: number;
  /** Server addresses to use instead of the ones saved at join (e.g. `bulwark up` after a port change). */
  servers?: string[];
  /** Protocol versions offered in hello (tests of negotiation). */
  protocolVersions?: number[];
  /** Remote commands (`bulwark exec`): off unless enabled; with an allow-list, only matching commands run. */
  exec?: { enabled: boolean; allow: string[] };
  /** What audits may do on this node (command checks are off unless enabled here). */
  audit?: AuditPolicy;
  /** Where delivered secrets may be written (`secrets.allow_dirs`); default: anywhere but protected system locations. */
  secrets?: SecretsPolicy;
  /** Where restores through this agent may write (`backup.restore_dirs`); default: anywhere but protected system locations. */
  restoreDirs?: readonly string[];
  clock?: Clock;
  logger?: Logger;
}

export interface AgentEvents {
  connected: [{ server: string; nodeId: string }];
  disconnected: [{ code: number; reason: string }];
  heartbeat: [{ rttMs: number }];
  renewed: [{ serial: string; notAfter: number }];
  fatal: [BulwarkError];
}

/**
 * The agent's life: keep one WebSocket to a server of the list, say hello,
 * heartbeat, report facts when they change, renew the certificate at 2/3 of its
 * life, and come back with full-jitter backoff after any loss.
 */
export class Agent extends EventEmitter<AgentEvents> {
  #identity: AgentIdentity;
  #ws: WebSocket | undefined;
  #serverIndex = 0;
  #attempt = 0;
  #stopped = false;
  #heartbeatTimer: NodeJS.Timeout | undefined;
  #factsTimer: NodeJS.Timeout | undefined;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #renewTimer: NodeJS.Timeout | undefined;
  #seq = 0;
  #sentAt = new Map<number, number>();
  #lastFactsHash: string | undefined;
  #renewing: { requestId: string; keyPem: string } | undefined;
  /** Set while a renewed certificate is being checked and saved. */
  #saving: Promise<void> | undefined;
  #renewAttempt = 0;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #exec: ExecRunner;
  readonly #audits: AuditRunner;
  readonly #secrets: SecretDeliveryRunner;
  readonly #backups: BackupRunner;

  private constructor(
    private readonly options: AgentOptions,
    identity: AgentIdentity,
  ) {
    super();
    this.#identity = identity;
    this.#clock = options.clock ?? systemClock;
    this.#log = options.logger ?? createLogger({ name: 'bulwark-agent' });
    this.#exec = new ExecRunner({ policy: options.exec ?? EXEC_DISABLED_POLICY, log: this.#log });
    this.#secrets = new SecretDeliveryRunner({ root: options.root ?? '/', dataDir: options.dataDir, policy: options.secrets ?? DEFAULT_SECRETS_POLICY, log: this.#log });
    this.#backups = new BackupRunner({ dataDir: options.dataDir, clock: this.#clock, log: this.#log, ...(options.restoreDirs === undefined ? {} : { restoreDirs: options.restoreDirs }) });
    this.#audits = new AuditRunner({ policy: options.audit ?? DEFAULT_AUDIT_POLICY, root: options.root ?? '/', dataDir: options.dataDir, clusterCaPem: identity.caPem, clock: this.#clock, log: this.#log });
  }

  static async start(options: AgentOptions): Promise<Agent> {
    await recoverInterruptedRenewal(options.dataDir);
    const identity = await loadIdentity(options.dataDir);
    const agent = new Agent(options, options.servers?.length ? { ...identity, servers: options.servers } : identity);
    agent.#connect();
    return agent;
  }

  get nodeId(): string {
    return this.#identity.nodeId;
  }

  get certificateSerial(): string {
    return certificateInfo(this.#identity.certPem).serial;
  }

  /** The backup policies this agent has scheduled now (tests). */
  get backupPolicies(): string[] {
    return this.#backups.policies;
  }

  get connected(): boolean {
    return this.#ws?.readyState === WebSocket.OPEN;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#clearTimers();
    clearTimeout(this.#reconnectTimer);
    this.#exec.stopAll();
    this.#audits.stop();
    this.#secrets.stop();
    this.#backups.stop();
    const ws = this.#ws;
    if (ws && ws.readyState !== WebSocket.CLOSED) {
      await new Promise<void>((resolve) => {
        ws.once('close', () => resolve());
        ws.close(1000, 'agent stopping');
        setTimeout(() => {
          ws.terminate();
          resolve();
        }, 2000).unref();
      });
    }
  }

  /** Renews now instead of at 2/3 of the lifetime (tests, `bulwark agent renew`). */
  async renewNow(): Promise<void> {
    const { csrPem, keyPem } = await createCsr({ commonName: this.#identity.nodeId });
    const requestId = randomUUID();
    this.#renewing = { requestId, keyPem };
    this.#send({ type: 'renew', requestId, csr: csrPem });
  }

  #connect(): void {
    if (this.#stopped) return;
    const server = this.#identity.servers[this.#serverIndex % this.#identity.servers.length] ?? '';
    const { host, port, servername } = parseServerUrl(server);
    const hostPart = host.includes(':') ? `[${host}]` : host;
    const ws = new WebSocket(`wss://${hostPart}:${port}${AGENT_CONNECT_PATH}`, {
      cert: this.#identity.certPem,
      key: this.#identity.keyPem,
      ca: this.#identity.caPem,
      ...(servername ? { servername } : {}),
      minVersion: 'TLSv1.2',
      maxPayload: MAX_AGENT_MESSAGE_BYTES,
      handshakeTimeout: 15_000,
    });
    this.#ws = ws;
    // The certificate this connection presents: a refusal of it is final only if no newer one is held.
    const connectionCert = this.#identity.certPem;
    ws.on('open', () => {
      this.#send({ type: 'hello', protocolVersions: this.options.protocolVersions ?? [...SUPPORTED_PROTOCOL_VERSIONS], agentVersion: VERSION });
    });
    ws.on('message', (data) => {
      void this.#onMessage(server, data.toString(), connectionCert).catch((err: unknown) => this.#log.error({ err }, 'handling a server message failed'));
    });
    ws.on('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        let error: { code?: string; message?: string } | undefined;
        try {
          error = (JSON.parse(body) as { error?: { code?: string; message?: string } }).error;
        } catch {
          error = undefined;
        }
        if (error?.code === 'NODE_REMOVED' || ((error?.code === 'CERT_REVOKED' || error?.code === 'CERT_UNKNOWN') && !this.#holdsNewer(connectionCert))) {
          this.#fatal(new BulwarkError(error.code, error.message ?? error.code));
        } else {
          this.#log.warn({ server, status: res.statusCode, error }, 'server refused the connection');
        }
        ws.terminate();
      });
    });
    ws.on('error', (err) => this.#log.debug({ server, err: err.message }, 'connection error'));
    ws.on('close', (code, reason) => {
      if (this.#ws === ws) this.#onClose(code, reason.toString());
    });
  }

  #onClose(code: number, reason: string): void {
    this.#clearTimers();
    this.#secrets.disconnected();
    this.#backups.disconnected();
    this.emit('disconnected', { code, reason });
    if (this.#stopped) return;
    this.#serverIndex += 1;
    const delay = backoffDelay(this.#attempt);
    this.#attempt += 1;
    this.#log.info({ code, reason, retryInMs: delay }, 'disconnected; reconnecting');
    this.#reconnectTimer = setTimeout(() => this.#connect(), delay);
  }

  /**
   * True when the agent holds a certificate newer than `connectionCert` that is
   * still valid: a connection refused or closed for the old one (expired, or
   * superseded) is then no reason to stop — the next connection uses the new one.
   */
  #holdsNewer(connectionCert: string): boolean {
    if (this.#identity.certPem === connectionCert) return false;
    try {
      return certificateInfo(this.#identity.certPem).notAfter > this.#clock.now();
    } catch {
      return false;
    }
  }

  async #onMessage(server: string, text: string, connectionCert: string): Promise<void> {
    let msg: ServerMessage;
    try {
      msg = ServerMessageSchema.parse(JSON.parse(text));
    } catch {
      this.#log.warn({ server }, 'ignoring a malformed server message');
      return;
    }
    switch (msg.type) {
      case 'welcome':
        this.#attempt = 0;
        this.#serverIndex = this.#identity.servers.indexOf(server);
        this.#startHeartbeats(this.options.heartbeatIntervalMs ?? msg.heartbeatIntervalMs);
        this.#scheduleRenewal();
        this.#lastFactsHash = undefined;
        this.#secrets.connected((m) => this.#send(m));
        this.#backups.connected((m) => this.#send(m));
        this.emit('connected', { server, nodeId: msg.nodeId });
        await this.#reportFacts();
        // Stopped, or this connection lost, while the facts were collected: a timer set now would never be cleared.
        if (this.#stopped || this.#ws?.readyState !== WebSocket.OPEN) return;
        clearInterval(this.#factsTimer);
        this.#factsTimer = setInterval(() => void this.#reportFacts(), this.options.factsIntervalMs ?? 60_000);
        return;
      case 'heartbeat_ack': {
        const sent = this.#sentAt.get(msg.seq);
        this.#sentAt.delete(msg.seq);
        if (sent !== undefined) this.emit('heartbeat', { rttMs: this.#clock.now() - sent });
        return;
      }
      case 'renewed':
        return this.#onRenewed(msg.requestId, msg.certificate);
      case 'exec':
        // Not awaited: a long command must not hold up the messages after it.
        void this.#exec.run(msg, (reply) => this.#send(reply));
        return;
      case 'audit':
        // Not awaited: heartbeats go on while the audit runs.
        void this.#audits.run(msg, (reply) => this.#send(reply));
        return;
      case 'secrets_manifest':
        // Not awaited: fetches answer through this same handler.
        void this.#secrets.manifest(msg.items).catch((err: unknown) => this.#log.error({ err }, 'applying the secrets manifest failed'));
        return;
      case 'secret_value':
        this.#secrets.onValue(msg);
        return;
      case 'backup_policies':
        this.#backups.apply(msg);
        return;
      case 'backup_trigger':
        this.#backups.trigger(msg);
        return;
      case 'drill':
        this.#backups.drill(msg);
        return;
      case 'backup_restore':
        // Not awaited: a long restore must not hold up the messages after it.
        void this.#backups.restore(msg);
        return;
      case 'error': {
        if (msg.fatal && (msg.code === 'CERT_REVOKED' || msg.code === 'CERT_UNKNOWN')) {
          // The server closes a channel when its certificate expires; a renewal may be
          // landing on disk at this very moment, so let it finish before judging.
          await this.#saving;
          if (this.#holdsNewer(connectionCert)) {
            this.#log.info({ code: msg.code, message: msg.message }, 'the server closed a connection of the previous certificate; reconnecting with the renewed one');
            return;
          }
        }
        if (msg.fatal && (msg.code === 'NODE_REMOVED' || msg.code === 'CERT_REVOKED' || msg.code === 'CERT_UNKNOWN' || msg.code === 'PROTOCOL_UNSUPPORTED')) {
          this.#fatal(new BulwarkError(msg.code, msg.message));
          return;
        }
        // A refused secret fetch is reported back in the delivery's status, not logged here.
        if (!msg.fatal && msg.requestId !== undefined && this.#secrets.onError(msg.requestId, msg.code, msg.message)) return;
        this.#log.warn({ code: msg.code, message: msg.message }, 'server reported an error');
        if (msg.requestId && msg.requestId === this.#renewing?.requestId) {
          this.#renewing = undefined;
          this.#retryRenewal();
        }
        return;
      }
    }
  }

  async #onRenewed(requestId: string, certPem: string): Promise<void> {
    const pending = this.#renewing;
    if (!pending || pending.requestId !== requestId) return;
    this.#renewing = undefined;
    const saving = this.#adoptRenewed(pending.keyPem, certPem);
    this.#saving = saving.then(
      () => undefined,
      () => undefined,
    );
    let info: { serial: string; notAfter: number };
    try {
      info = await saving;
    } catch (err) {
      this.#log.error({ err: err instanceof Error ? err.message : err }, 'the renewed certificate was refused; keeping the current one');
      this.#retryRenewal();
      return;
    } finally {
      this.#saving = undefined;
    }
    this.#renewAttempt = 0;
    this.#log.info({ serial: info.serial, notAfter: info.notAfter }, 'certificate renewed');
    this.emit('renewed', { serial: info.serial, notAfter: info.notAfter });
    // Reconnect with the new certificate at once: the server revokes the old one
    // only when it sees the new one in use.
    this.#attempt = 0;
    const old = this.#ws;
    this.#ws = undefined;
    this.#clearTimers();
    clearTimeout(this.#reconnectTimer);
    old?.close(1000, 'renewed');
    this.#connect();
  }

  /** Checks a renewed certificate (see {@link checkRenewedCertificate}), then saves it and makes it current. */
  async #adoptRenewed(keyPem: string, certPem: string): Promise<{ serial: string; notAfter: number }> {
    checkRenewedCertificate(certPem, { keyPem, caPem: this.#identity.caPem, clusterName: this.#identity.clusterName, nodeId: this.#identity.nodeId });
    const info = certificateInfo(certPem);
    await saveRenewedCertificate(this.options.dataDir, keyPem, certPem);
    this.#identity = { ...this.#identity, keyPem, certPem };
    return info;
  }

  /** After a refused or failed renewal: try again with backoff (1 s to about a minute), on whatever connection is open then. */
  #retryRenewal(): void {
    if (this.#stopped) return;
    clearTimeout(this.#renewTimer);
    // Never later than the renewal the certificate's lifetime asks for anyway.
    const info = certificateInfo(this.#identity.certPem);
    const due = Math.max(0, renewalTime(info.notBefore, info.notAfter) - this.#clock.now());
    const delay = Math.min(1_000 + backoffDelay(this.#renewAttempt, { baseMs: 1_000 }), Math.max(due, 1_000));
    this.#renewAttempt += 1;
    this.#log.info({ retryInMs: delay }, 'renewal will be retried');
    this.#renewTimer = setTimeout(() => {
      void this.renewNow().catch((err: unknown) => this.#log.error({ err }, 'renewal failed'));
    }, delay);
  }

  #scheduleRenewal(): void {
    clearTimeout(this.#renewTimer);
    const info = certificateInfo(this.#identity.certPem);
    const delay = Math.max(0, renewalTime(info.notBefore, info.notAfter) - this.#clock.now());
    this.#renewTimer = setTimeout(() => {
      void this.renewNow().catch((err: unknown) => this.#log.error({ err }, 'renewal failed'));
    }, Math.min(delay, 2 ** 31 - 1));
  }

  #startHeartbeats(intervalMs: number): void {
    clearInterval(this.#heartbeatTimer);
    this.#heartbeatTimer = setInterval(() => {
      const seq = ++this.#seq;
      const now = this.#clock.now();
      this.#sentAt.set(seq, now);
      if (this.#sentAt.size > 100) this.#sentAt.delete(this.#sentAt.keys().next().value as number);
      this.#send({ type: 'heartbeat', seq, sentAt: now });
    }, intervalMs);
  }

  async #reportFacts(): Promise<void> {
    try {
      const facts = await collectFacts({ ...(this.options.root ? { root: this.options.root } : {}), now: () => this.#clock.now() });
      const hash = factsHash(facts);
      if (hash === this.#lastFactsHash) return;
      this.#send({ type: 'facts', facts });
      this.#lastFactsHash = hash;
    } catch (err) {
      this.#log.warn({ err }, 'collecting facts failed');
    }
  }

  #send(message: AgentMessage): void {
    if (this.#ws?.readyState === WebSocket.OPEN) this.#ws.send(JSON.stringify(message));
  }

  #fatal(err: BulwarkError): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#clearTimers();
    this.#ws?.terminate();
    this.#log.error({ code: err.code }, err.message);
    this.emit('fatal', err);
  }

  #clearTimers(): void {
    clearInterval(this.#heartbeatTimer);
    clearInterval(this.#factsTimer);
    clearTimeout(this.#renewTimer);
  }
}

/**
 * What an agent checks before it trusts a renewed certificate: the public key is
 * the one it just generated, the URI SAN names this node of this cluster, and the
 * pinned cluster CA signed it. Throws BulwarkError('CERT_UNKNOWN') otherwise.
 */
export function checkRenewedCertificate(certPem: string, expected: { keyPem: string; caPem: string; clusterName: string; nodeId: string }): void {
  let cert: X509Certificate;
  let ca: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
    ca = new X509Certificate(expected.caPem);
  } catch {
    throw new BulwarkError('CERT_UNKNOWN', 'the renewed certificate cannot be parsed');
  }
  const ours = createPublicKey(expected.keyPem).export({ type: 'spki', format: 'der' });
  if (!cert.publicKey.export({ type: 'spki', format: 'der' }).equals(ours)) {
    throw new BulwarkError('CERT_UNKNOWN', 'the renewed certificate is not for the key pair this agent generated');
  }
  if (!certificateInfo(certPem).uris.includes(nodeSpiffeId(expected.clusterName, expected.nodeId))) {
    throw new BulwarkError('CERT_UNKNOWN', `the renewed certificate does not name node ${expected.nodeId} of cluster ${expected.clusterName}`);
  }
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) {
    throw new BulwarkError('CERT_UNKNOWN', 'the renewed certificate is not signed by the pinned cluster CA');
  }
}
