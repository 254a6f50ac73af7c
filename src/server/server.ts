import { mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Server as HttpsServer } from 'node:https';
import type { FastifyInstance } from 'fastify';
import { systemClock, type Clock } from '../core/clock.js';
import { createLogger, type Logger } from '../core/logger.js';
import { writeFileAtomic } from '../core/fs.js';
import { VERSION } from '../core/version.js';
import { loadOrCreateMasterKey } from '../keyring/master-key-file.js';
import { MasterKeyKeyring } from '../keyring/master-key-keyring.js';
import { KeyService } from './key-service.js';
import { renewalTime } from '../pki/renewal.js';
import { openStore, type Store } from '../store/open.js';
import { sql } from 'kysely';
import { AgentGateway, TLS_CIPHERS } from './agent-gateway.js';
import { AccessService } from './access-service.js';
import { IdentityService, BOOTSTRAP_TOKEN_NAME } from './identity-service.js';
import { AuditLogService } from './audit-log-service.js';
import { loadOrCreateAuditKey } from './audit-key.js';
import { loadOrCreateSshCa } from './ssh-ca.js';
import { randomUUID } from 'node:crypto';
import { buildApiApp } from './api/app.js';
import type { RouteEntry } from './api/permissions.js';
import { loadOrCreateCluster } from './cluster.js';
import { Enrollment } from './enrollment.js';
import { EventLog } from './event-log.js';
import { JoinTokenService } from './join-tokens.js';
import { Membership } from './membership.js';
import { NodeService } from './node-service.js';
import { ExecService } from './exec-service.js';
import { AuditService } from './audit-service.js';
import {
  DEFAULT_AGENT_PORT,
  DEFAULT_API_PORT,
  DEFAULT_HEARTBEAT_MS,
  DEFAULT_NODE_CERT_LIFETIME_MS,
  type ResolvedServerOptions,
  type ServerOptions,
} from './options.js';
import { PkiService, type ListenerCertificate } from './pki-service.js';

export const ADMIN_TOKEN_FILE = 'admin-token';
export const CA_CERT_FILE = 'ca.pem';
export const MASTER_KEY_FILE = 'master.key';

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

/** What a started server is made of; tests and the CLI reach the services through it. */
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
  clusterName: string;
  caPin: string;
  apiUrl: string;
  agentUrl: string;
  log: Logger;
  clock: Clock;
}

/** A running control plane: both listeners up, background jobs started. */
export class Server {
  /** Set only by the start that created the cluster: the bootstrap admin token, shown once. */
  adminToken: string | undefined;
  #renewTimer: NodeJS.Timeout | undefined;

  private constructor(private readonly parts: ServerParts) {}

  get options(): ResolvedServerOptions { return this.parts.options; }
  get store(): Store { return this.parts.store; }
  get api(): FastifyInstance { return this.parts.api; }
  get routes(): RouteEntry[] { return this.parts.routes; }
  get gateway(): AgentGateway { return this.parts.gateway; }
  get membership(): Membership { return this.parts.membership; }
  get events(): EventLog { return this.parts.events; }
  get pki(): PkiService { return this.parts.pki; }
  get nodes(): NodeService { return this.parts.nodes; }
  get joinTokens(): JoinTokenService { return this.parts.joinTokens; }
  get identity(): IdentityService { return this.parts.identity; }
  get access(): AccessService { return this.parts.access; }
  get audit(): AuditLogService { return this.parts.audit; }
  get audits(): AuditService { return this.parts.audits; }
  get clusterName(): string { return this.parts.clusterName; }
  get caPin(): string { return this.parts.caPin; }
  get apiUrl(): string { return this.parts.apiUrl; }
  get agentUrl(): string { return this.parts.agentUrl; }

  static async start(input: ServerOptions): Promise<Server> {
    const options = resolveServerOptions(input);
    const clock = input.clock ?? systemClock;
    const log = input.logger ?? createLogger({ name: 'bulwark-server' });
    await mkdir(options.dataDir, { recursive: true, mode: 0o700 });
    const { key } = await loadOrCreateMasterKey(join(options.dataDir, MASTER_KEY_FILE));
    const keyring = new MasterKeyKeyring(key);
    const store = await openStore({ url: options.db, ...(options.dbSchema ? { schema: options.dbSchema } : {}) });
    try {
      return await Server.#assemble(input, options, store, keyring, clock, log);
    } catch (err) {
      await store.close();
      throw err;
    }
  }

  static async #assemble(input: ServerOptions, options: ResolvedServerOptions, store: Store, master: MasterKeyKeyring, clock: Clock, log: Logger): Promise<Server> {
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
      https: { cert: listenerCert.chainPem, key: listenerCert.keyPem, minVersion: options.tlsMinVersion, ciphers: TLS_CIPHERS },
    });
    try {
      await app.listen({ host: options.api.host, port: options.api.port });
    } catch (err) {
      await gateway.close();
      throw err;
    }
    const apiPort = (app.server.address() as AddressInfo).port;
    const server = new Server({
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
      clusterName: cluster.clusterName,
      caPin: cluster.caPin,
      apiUrl: `https://${urlHost(options.api.host)}:${apiPort}`,
      agentUrl,
      log,
      clock,
    });
    await writeFileAtomic(join(options.dataDir, CA_CERT_FILE), cluster.ca.certPem, 0o644);
    if (cluster.created) {
      server.adminToken = (await identity.createApiToken(undefined, { name: BOOTSTRAP_TOKEN_NAME, role: 'admin' })).token;
      await writeFileAtomic(join(options.dataDir, ADMIN_TOKEN_FILE), `${server.adminToken}\n`, 0o600);
      await events.append('cluster.created', null, { clusterName: cluster.clusterName, caPin: cluster.caPin });
    }
    membership.start();
    audits.start();
    server.#scheduleListenerRenewal(listenerCert);
    log.info({ api: server.apiUrl, agent: agentUrl, cluster: cluster.clusterName }, 'server started');
    return server;
  }

  /** Listener certificates live 90 days; a long-running server swaps them in place at 2/3. */
  #scheduleListenerRenewal(current: ListenerCertificate): void {
    const notBefore = current.notAfter - 90 * 86_400_000;
    const delay = Math.max(60_000, renewalTime(notBefore, current.notAfter) - this.parts.clock.now());
    this.#renewTimer = setTimeout(() => {
      void this.pki
        .issueListenerCertificate(listenerNames(this.options))
        .then((next) => {
          (this.api.server as unknown as HttpsServer).setSecureContext({ cert: next.chainPem, key: next.keyPem, minVersion: this.options.tlsMinVersion, ciphers: TLS_CIPHERS });
          this.gateway.setCertificate(next);
          this.#scheduleListenerRenewal(next);
        })
        .catch((err: unknown) => this.parts.log.error({ err }, 'listener certificate renewal failed'));
    }, Math.min(delay, 2 ** 31 - 1));
    this.#renewTimer.unref();
  }

  async close(): Promise<void> {
    clearTimeout(this.#renewTimer);
    await this.gateway.close();
    await this.api.close();
    await this.membership.stop();
    this.audits.stop();
    this.events.close();
    this.access.close();
    await this.audit.close();
    await this.store.close();
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
