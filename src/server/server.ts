import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Server as HttpsServer } from 'node:https';
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { systemClock, type Clock } from '../core/clock.js';
import { BulwarkError } from '../core/errors.js';
import { createLogger, type Logger } from '../core/logger.js';
import { writeFileAtomic } from '../core/fs.js';
import { VERSION } from '../core/version.js';
import { loadMasterKey } from '../keyring/master-key-file.js';
import { MasterKeyKeyring } from '../keyring/master-key-keyring.js';
import type { KeyringStatus, SealStatus } from '../protocol/keyring.js';
import { renewalTime } from '../pki/renewal.js';
import { getClusterState } from '../store/cluster-state.js';
import { openStore, type Store } from '../store/open.js';
import { AgentGateway, TLS_CIPHERS } from './agent-gateway.js';
import { AccessService } from './access-service.js';
import { IdentityService, BOOTSTRAP_TOKEN_NAME } from './identity-service.js';
import { AuditLogService } from './audit-log-service.js';
import { loadOrCreateAuditKey } from './audit-key.js';
import { loadOrCreateSshCa } from './ssh-ca.js';
import { buildApiApp } from './api/app.js';
import { buildSealedApp } from './api/sealed-app.js';
import type { RouteEntry } from './api/permissions.js';
import type { KeyringControl, UnsealInput } from './api/services.js';
import { loadOrCreateCluster } from './cluster.js';
import { Enrollment } from './enrollment.js';
import { EventLog } from './event-log.js';
import { JoinTokenService } from './join-tokens.js';
import { KeyService } from './key-service.js';
import { closeHttps, createHttpsServer, detachedHandler, detachedServer, listenHttps, readListenerCertificate, writeListenerCertificate, type RequestHandler } from './listener.js';
import { Membership } from './membership.js';
import { NodeService } from './node-service.js';
import { ExecService } from './exec-service.js';
import { AuditService } from './audit-service.js';
import { SecretService } from './secret-service.js';
import { SecretDeliveryService } from './secret-delivery-service.js';
import { BackupService } from './backup-service.js';
import {
  DEFAULT_AGENT_PORT,
  DEFAULT_API_PORT,
  DEFAULT_HEARTBEAT_MS,
  DEFAULT_NODE_CERT_LIFETIME_MS,
  type ResolvedServerOptions,
  type ServerOptions,
} from './options.js';
import { PkiService, type ListenerCertificate } from './pki-service.js';
import { commitStagedKeyFile, MASTER_KEY_FILE, protectMasterKey, readSealConfig, removeKeyFile, Unsealer, writeSealConfig, type SealChoice, type SealConfig, type SealMethod, type UnsealStep } from './seal.js';

export { MASTER_KEY_FILE } from './seal.js';
export const ADMIN_TOKEN_FILE = 'admin-token';
export const CA_CERT_FILE = 'ca.pem';

export function resolveServerOptions(o: ServerOptions): ResolvedServerOptions {
  return {
    dataDir: o.dataDir,
    db: o.db ?? join(o.dataDir, 'bulwark.db'),
    dbSchema: o.dbSchema,
    clusterName: o.clusterName ?? 'bulwark',
    api: { host: o.api?.host ?? '127.0.0.1', port: o.api?.port ?? DEFAULT_API_PORT },
    agent: { host: o.agent?.host ?? '0.0.0.0', port: o.agent?.port ?? DEFAULT_AGENT_PORT },
    sans: o.sans ?? [],
    advertisedAgentAddresses: o.advertisedAgentAddresses,
    tlsMinVersion: o.tlsMinVersion ?? 'TLSv1.3',
    nodeCertLifetimeMs: o.nodeCertLifetimeMs ?? DEFAULT_NODE_CERT_LIFETIME_MS,
    heartbeatIntervalMs: o.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_MS,
    suspectAfterMissed: o.suspectAfterMissed ?? 3,
    offlineAfterMissed: o.offlineAfterMissed ?? 10,
    joinFailuresPerMinute: o.joinFailuresPerMinute ?? 10,
    sessionTtlMs: o.sessionTtlMs ?? 12 * 3_600_000,
  };
}

/** What an unsealed server is made of; tests and the CLI reach the services through it. */
export interface ServerParts {
  options: ResolvedServerOptions;
  store: Store;
  api: FastifyInstance;
  routes: RouteEntry[];
  gateway: AgentGateway;
  membership: Membership;
  events: EventLog;
  pki: PkiService;
  nodes: NodeService;
  joinTokens: JoinTokenService;
  identity: IdentityService;
  access: AccessService;
  audit: AuditLogService;
  audits: AuditService;
  secretDeliveries: SecretDeliveryService;
  backups: BackupService;
  keys: KeyService;
  clusterName: string;
  caPin: string;
  agentUrl: string;
  log: Logger;
  clock: Clock;
}

/** The parts plus what starting them needs once. */
interface Core extends ServerParts {
  caCertPem: string;
  clusterCreated: boolean;
  listenerCert: ListenerCertificate;
}

/**
 * A running control plane. Its API listener stays up for the life of the
 * process; behind it the server is either unsealed (every service running, the
 * agent listener open) or sealed (keys locked: only health and unseal answer,
 * agents cannot connect).
 */
export class Server implements KeyringControl {
  /** Set only by the start that created the cluster: the bootstrap admin token, shown once. */
  adminToken: string | undefined;
  /** Set only by the start that created a cluster unsealed by shares: the shares, shown once. */
  initShares: string[] | undefined;
  #core: Core | undefined;
  #renewTimer: NodeJS.Timeout | undefined;
  readonly #input: ServerOptions;
  readonly #options: ResolvedServerOptions;
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #log: Logger;
  #seal!: SealConfig;
  #unsealer!: Unsealer;
  #https!: HttpsServer;
  #sealedApp!: FastifyInstance;
  #sealedHandler!: RequestHandler;
  #dispatch: RequestHandler = (_req, res) => {
    res.statusCode = 503;
    res.end();
  };
  #transition: Promise<unknown> = Promise.resolve();
  readonly #unsealedWaiters: (() => void)[] = [];

  private constructor(input: ServerOptions, options: ResolvedServerOptions, store: Store, clock: Clock, log: Logger) {
    this.#input = input;
    this.#options = options;
    this.#store = store;
    this.#clock = clock;
    this.#log = log;
  }

  get sealed(): boolean { return this.#core === undefined; }
  get options(): ResolvedServerOptions { return this.#options; }
  get store(): Store { return this.#store; }
  /** The app answering requests now: the full API when unsealed, the sealed one otherwise (tests inject into it). */
  get api(): FastifyInstance { return this.#core?.api ?? this.#sealedApp; }
  get routes(): RouteEntry[] { return this.#parts.routes; }
  get gateway(): AgentGateway { return this.#parts.gateway; }
  get membership(): Membership { return this.#parts.membership; }
  get events(): EventLog { return this.#parts.events; }
  get pki(): PkiService { return this.#parts.pki; }
  get nodes(): NodeService { return this.#parts.nodes; }
  get joinTokens(): JoinTokenService { return this.#parts.joinTokens; }
  get identity(): IdentityService { return this.#parts.identity; }
  get access(): AccessService { return this.#parts.access; }
  get audit(): AuditLogService { return this.#parts.audit; }
  get audits(): AuditService { return this.#parts.audits; }
  get backups(): BackupService { return this.#parts.backups; }
  get keys(): KeyService { return this.#parts.keys; }
  get clusterName(): string { return this.#parts.clusterName; }
  get caPin(): string { return this.#parts.caPin; }
  get agentUrl(): string { return this.#parts.agentUrl; }
  get apiUrl(): string {
    return `https://${urlHost(this.#options.api.host)}:${(this.#https.address() as AddressInfo).port}`;
  }

  get #parts(): Core {
    if (!this.#core) throw new BulwarkError('SEALED', 'the server is sealed; run `bulwark unseal`');
    return this.#core;
  }

  /**
   * Opens the database and starts the server: unsealed when its master key is at
   * hand (key file, or the passphrase or shares passed in), sealed otherwise.
   */
  static async start(input: ServerOptions): Promise<Server> {
    const options = resolveServerOptions(input);
    const clock = input.clock ?? systemClock;
    const log = input.logger ?? createLogger({ name: 'bulwark-server' });
    await mkdir(options.dataDir, { recursive: true, mode: 0o700 });
    const store = await openStore({ url: options.db, ...(options.dbSchema ? { schema: options.dbSchema } : {}) });
    const server = new Server(input, options, store, clock, log);
    try {
      await server.#boot();
      return server;
    } catch (err) {
      await server.#stopCore();
      if (server.#https?.listening) await closeHttps(server.#https);
      await store.close();
      throw err;
    }
  }

  async #boot(): Promise<void> {
    const { key, config, shares } = await this.#masterKeyAtStart();
    this.#seal = config;
    this.#unsealer = new Unsealer(config, this.#options.dataDir);
    this.initShares = shares;
    const sealed = await buildSealedApp({ control: this, logger: this.#log });
    this.#sealedApp = sealed.app;
    this.#sealedHandler = sealed.handler;
    let cert: ListenerCertificate;
    if (key) {
      this.#core = await this.#assembleWith(key);
      cert = this.#core.listenerCert;
    } else {
      cert = await readListenerCertificate(this.#options.dataDir);
    }
    this.#https = createHttpsServer(
      { cert: cert.chainPem, key: cert.keyPem, minVersion: this.#options.tlsMinVersion, ciphers: TLS_CIPHERS },
      (req, res) => this.#dispatch(req, res),
    );
    await listenHttps(this.#https, this.#options.api.host, this.#options.api.port);
    if (this.#core) await this.#startCore(this.#core);
    else {
      this.#dispatch = this.#sealedHandler;
      this.#log.warn({ api: this.apiUrl, method: this.#seal.method }, 'server started sealed; run `bulwark unseal`');
    }
  }

  /** The master key if this start can have it, and the seal configuration (created with the cluster). */
  async #masterKeyAtStart(): Promise<{ key?: Buffer; config: SealConfig; shares?: string[] }> {
    const store = this.#store;
    const now = this.#clock.now();
    const existing = await readSealConfig(store);
    const choice = this.#input.seal;
    if (!existing) {
      if (await getClusterState(store.db, 'pki.ca')) {
        // A cluster from before seal methods existed: its key file is its master key.
        if (choice && choice.method !== 'file') throw new BulwarkError('CONFLICT', `this cluster already exists and is unlocked by its key file; change that with \`bulwark keys rekey\``);
        const protectedKey = await protectMasterKey({ method: 'file' }, this.#options.dataDir, now, await loadMasterKey(join(this.#options.dataDir, MASTER_KEY_FILE)));
        await writeSealConfig(store.db, protectedKey.config);
        return protectedKey;
      }
      const created = await protectMasterKey(choice ?? { method: 'file' }, this.#options.dataDir, now);
      await writeSealConfig(store.db, created.config);
      return created;
    }
    if (choice && choice.method !== existing.method) {
      throw new BulwarkError('CONFLICT', `this cluster already exists and is unlocked by ${describeMethod(existing.method)}; change that with \`bulwark keys rekey\``);
    }
    const unsealer = new Unsealer(existing, this.#options.dataDir);
    const given = this.#input.unseal;
    if (existing.method === 'file') return { key: (await unsealer.submit({})).key as Buffer, config: existing };
    if (existing.method === 'passphrase' && given?.passphrase !== undefined) return { key: (await unsealer.submit({ passphrase: given.passphrase })).key as Buffer, config: existing };
    if (existing.method === 'shamir' && given?.shares) {
      let step: UnsealStep = { progress: 0, threshold: unsealer.threshold };
      for (const share of given.shares) step = await unsealer.submit({ share });
      if (step.key) return { key: step.key, config: existing };
    }
    return { config: existing };
  }

  async #assembleWith(key: Buffer): Promise<Core> {
    const master = new MasterKeyKeyring(key);
    key.fill(0);
    return Server.#assemble(this.#input, this.#options, this.#store, master, this.#clock, this.#log, this);
  }

  /** The last steps of an unsealed start, once the API listener is up. */
  async #startCore(core: Core): Promise<void> {
    // After a seal the agent listener must come back on the same port, also when the first one was picked by the system.
    if (this.#options.agent.port === 0) this.#options.agent.port = Number(new URL(core.agentUrl).port);
    this.#dispatch = detachedHandler(core.api);
    await writeFileAtomic(join(this.#options.dataDir, CA_CERT_FILE), core.caCertPem, 0o644);
    if (core.clusterCreated) {
      this.adminToken = (await core.identity.createApiToken(undefined, { name: BOOTSTRAP_TOKEN_NAME, role: 'admin' })).token;
      await writeFileAtomic(join(this.#options.dataDir, ADMIN_TOKEN_FILE), `${this.adminToken}\n`, 0o600);
      await core.events.append('cluster.created', null, { clusterName: core.clusterName, caPin: core.caPin, unsealMethod: this.#seal.method });
    }
    core.membership.start();
    core.audits.start();
    core.backups.start();
    this.#scheduleListenerRenewal(core.listenerCert);
    for (const waiter of this.#unsealedWaiters.splice(0)) waiter();
    this.#log.info({ api: this.apiUrl, agent: core.agentUrl, cluster: core.clusterName }, 'server started');
  }

  async #stopCore(): Promise<void> {
    const core = this.#core;
    if (!core) return;
    this.#core = undefined;
    clearTimeout(this.#renewTimer);
    await core.gateway.close();
    await core.api.close();
    await core.membership.stop();
    core.audits.stop();
    core.secretDeliveries.close();
    core.backups.close();
    await core.keys.close();
    core.events.close();
    core.access.close();
    await core.audit.close();
  }

  sealStatus(): SealStatus {
    return {
      sealed: this.sealed,
      method: this.#seal.method,
      progress: this.sealed ? this.#unsealer.progress : 0,
      threshold: this.#unsealer.threshold,
      ...(this.#seal.shares ? { shares: this.#seal.shares.count } : {}),
    };
  }

  /** Resolves once the server is unsealed (at once if it is). */
  whenUnsealed(): Promise<void> {
    if (!this.sealed) return Promise.resolve();
    return new Promise((resolve) => this.#unsealedWaiters.push(resolve));
  }

  /** One unseal step: a passphrase, one share, the key file (no input), or `reset` to drop the shares given so far. */
  async unseal(input: UnsealInput): Promise<SealStatus> {
    return this.#serialised(async () => {
      if (!this.sealed) return this.sealStatus();
      if (input.reset) {
        this.#unsealer.reset();
        return this.sealStatus();
      }
      const step = await this.#unsealer.submit(input);
      if (!step.key) return this.sealStatus();
      const core = await this.#assembleWith(step.key);
      this.#core = core;
      this.#https.setSecureContext({ cert: core.listenerCert.chainPem, key: core.listenerCert.keyPem, minVersion: this.#options.tlsMinVersion, ciphers: TLS_CIPHERS });
      await this.#startCore(core);
      await core.events.append('keyring.unsealed', null, { method: this.#seal.method });
      await core.audit.append({
        actor: 'unseal',
        action: 'keyring.unseal',
        resource: '/v1/sys/unseal',
        decision: 'allow',
        source: input.source ?? 'local',
        requestId: randomUUID(),
        outcome: 'success',
        details: { method: this.#seal.method },
      });
      return this.sealStatus();
    });
  }

  /** Locks the keys again: every service stops and drops its key material; only unseal answers. */
  async seal(actor: string): Promise<void> {
    await this.#serialised(async () => {
      const core = this.#core;
      if (!core) return;
      await core.events.append('keyring.sealed', null, { by: actor });
      this.#dispatch = this.#sealedHandler;
      await this.#stopCore();
      this.#unsealer = new Unsealer(this.#seal, this.#options.dataDir);
      this.#log.warn({ by: actor }, 'server sealed');
    });
  }

  async keyStatus(): Promise<KeyringStatus> {
    const status = await this.#parts.keys.status();
    return { ...status, method: this.#seal.method, ...(this.#seal.shares ? { shares: this.#seal.shares } : {}) };
  }

  async rotate(): Promise<number> {
    return this.#parts.keys.rotate('manual');
  }

  /**
   * A new master key protected as chosen; the key versions are sealed under it
   * and the old key file, passphrase or shares stop working. Nothing else is
   * re-encrypted.
   */
  async rekey(choice: SealChoice): Promise<{ method: SealMethod; shares?: string[] }> {
    return this.#serialised(async () => {
      const core = this.#parts;
      const created = await protectMasterKey(choice, this.#options.dataDir, this.#clock.now(), randomBytes(32));
      const previous = this.#seal.method;
      // The key versions sealed under the new key and the configuration naming it commit together.
      await core.keys.reseal(new MasterKeyKeyring(created.key), (tx) => writeSealConfig(tx, created.config));
      created.key.fill(0);
      if (created.config.method === 'file') await commitStagedKeyFile(this.#options.dataDir);
      else if (previous === 'file') await removeKeyFile(this.#options.dataDir);
      this.#seal = created.config;
      this.#unsealer = new Unsealer(created.config, this.#options.dataDir);
      await core.events.append('keyring.rekeyed', null, { method: created.config.method, ...(created.config.shares ? { shares: created.config.shares.count, threshold: created.config.shares.threshold } : {}) });
      return { method: created.config.method, ...(created.shares ? { shares: created.shares } : {}) };
    });
  }

  /** Unseal, seal and rekey change what serves requests: one at a time. */
  #serialised<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#transition.then(fn, fn);
    this.#transition = next.catch(() => undefined);
    return next;
  }

  /** Listener certificates live 90 days; a long-running server swaps them in place at 2/3. */
  #scheduleListenerRenewal(current: ListenerCertificate): void {
    const notBefore = current.notAfter - 90 * 86_400_000;
    const delay = Math.max(60_000, renewalTime(notBefore, current.notAfter) - this.#clock.now());
    this.#renewTimer = setTimeout(() => {
      const core = this.#core;
      if (!core) return;
      void core.pki
        .issueListenerCertificate(listenerNames(this.#options))
        .then(async (next) => {
          this.#https.setSecureContext({ cert: next.chainPem, key: next.keyPem, minVersion: this.#options.tlsMinVersion, ciphers: TLS_CIPHERS });
          core.gateway.setCertificate(next);
          await writeListenerCertificate(this.#options.dataDir, next);
          this.#scheduleListenerRenewal(next);
        })
        .catch((err: unknown) => this.#log.error({ err }, 'listener certificate renewal failed'));
    }, Math.min(delay, 2 ** 31 - 1));
    this.#renewTimer.unref();
  }

  async close(): Promise<void> {
    await this.#transition;
    await this.#stopCore();
    await closeHttps(this.#https);
    await this.#sealedApp.close();
    await this.#store.close();
  }

  static async #assemble(input: ServerOptions, options: ResolvedServerOptions, store: Store, master: MasterKeyKeyring, clock: Clock, log: Logger, control: KeyringControl): Promise<Core> {
    const events = new EventLog(store, clock, log);
    const keys = await KeyService.open({ store, clock, log, onEvent: async (type, details) => void (await events.append(type, null, details)) }, master, input.keyring);
    const cluster = await loadOrCreateCluster(store, keys, clock, options.clusterName);
    const audit = new AuditLogService({ store, clock, log, key: await loadOrCreateAuditKey(store, keys, clock) });
    const pki = new PkiService({ ca: cluster.ca, clusterName: cluster.clusterName, store, clock, nodeLifetimeMs: options.nodeCertLifetimeMs });
    const access = new AccessService({ store, clock, log });
    const identity = new IdentityService({
      store,
      clock,
      cipher: keys,
      access,
      sessionTtlMs: options.sessionTtlMs,
      onLogin: async ({ user, source, ok, reason }) => {
        await audit.append({
          actor: user,
          action: 'login',
          resource: '/v1/login',
          decision: ok ? 'allow' : 'deny',
          source,
          requestId: randomUUID(),
          outcome: ok ? 'success' : 'failure',
          details: { reason },
        });
      },
    });
    const tokens = new JoinTokenService(store, clock, events);
    const enrollment = new Enrollment({ store, clock, log, events, tokens, pki, audit, clusterName: cluster.clusterName, joinFailuresPerMinute: options.joinFailuresPerMinute });
    const membership = new Membership({
      store,
      clock,
      log,
      events,
      options: { heartbeatIntervalMs: options.heartbeatIntervalMs, suspectAfterMissed: options.suspectAfterMissed, offlineAfterMissed: options.offlineAfterMissed },
    });
    // The gateway hands audit answers to the audit service, which needs the gateway's sessions: bound late.
    const late: { audits?: AuditService } = {};
    const names = listenerNames(options);
    const listenerCert = await pki.issueListenerCertificate(names);
    const gateway = new AgentGateway(
      {
        store,
        clock,
        log,
        events,
        membership,
        pki,
        enrollment,
        clusterName: cluster.clusterName,
        heartbeatIntervalMs: options.heartbeatIntervalMs,
        tlsMinVersion: options.tlsMinVersion,
        idleTimeoutMs: options.offlineAfterMissed * options.heartbeatIntervalMs,
        onAuditResult: async (nodeId, result) => {
          // A storage failure must not cost the node its channel; the sweep fails the result at the deadline.
          await late.audits?.onResult(nodeId, result).catch((err: unknown) => log.error({ err, nodeId }, 'storing an audit result failed'));
        },
        onAgentDisconnected: (nodeId) => {
          void late.audits?.agentDisconnected(nodeId).catch((err: unknown) => log.error({ err, nodeId }, 'marking audit requests undelivered failed'));
        },
        ...input.agentListenerLimits,
      },
      cluster.ca.certPem,
      listenerCert,
    );
    const nodes = new NodeService({ store, clock, events, isConnected: (id) => gateway.isConnected(id), revocationsChanged: () => pki.revocationsChanged() });
    const audits = new AuditService({ store, clock, log, events, access, nodes, audit, session: (id) => gateway.session(id), ...(input.auditTickMs ? { tickMs: input.auditTickMs } : {}) });
    late.audits = audits;
    const secrets = new SecretService({ store, cipher: keys, clock, log });
    const secretDeliveries = new SecretDeliveryService({ store, clock, log, events, access, audit, secrets });
    gateway.attachSecrets(secretDeliveries);
    const backups = new BackupService({ store, clock, log, events, access, nodes, audit, cipher: keys, session: (id) => gateway.session(id), ...(input.backupSweepMs ? { sweepMs: input.backupSweepMs } : {}) });
    gateway.attachBackups(backups);
    const agentPort = await gateway.listen(options.agent.host, options.agent.port);
    const agentUrl = `https://${urlHost(options.agent.host)}:${agentPort}`;
    const advertised = options.advertisedAgentAddresses ?? [agentUrl];
    const { app, routes } = await buildApiApp({
      services: {
        nodes,
        joinTokens: tokens,
        events,
        pki,
        identity,
        access,
        audit,
        sshCa: await loadOrCreateSshCa(store, keys, clock),
        exec: new ExecService({ nodes, access, audit, clock, log, session: (id) => gateway.session(id) }),
        audits,
        secrets,
        secretDeliveries,
        backups,
        keyring: control,
        store,
        clock,
        cluster: { name: cluster.clusterName, caPin: cluster.caPin, agentAddresses: () => advertised, version: VERSION },
        ready: async () => {
          await sql`select 1`.execute(store.db);
        },
      },
      clock,
      logger: log,
      version: VERSION,
      serverFactory: detachedServer,
    });
    await writeListenerCertificate(options.dataDir, listenerCert);
    return {
      options,
      store,
      api: app,
      routes,
      gateway,
      membership,
      events,
      pki,
      nodes,
      joinTokens: tokens,
      identity,
      access,
      audit,
      audits,
      secretDeliveries,
      backups,
      keys,
      clusterName: cluster.clusterName,
      caPin: cluster.caPin,
      caCertPem: cluster.ca.certPem,
      clusterCreated: cluster.created,
      agentUrl,
      listenerCert,
      log,
      clock,
    };
  }
}

function listenerNames(options: ResolvedServerOptions): string[] {
  const names = new Set(['localhost', '127.0.0.1', '::1', hostname(), ...options.sans]);
  for (const host of [options.api.host, options.agent.host]) {
    if (host !== '0.0.0.0' && host !== '::') names.add(host);
  }
  return [...names];
}

function urlHost(host: string): string {
  const shown = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return shown.includes(':') ? `[${shown}]` : shown;
}

function describeMethod(method: SealMethod): string {
  return method === 'file' ? 'its key file' : method === 'passphrase' ? 'a passphrase' : 'key shares';
}
