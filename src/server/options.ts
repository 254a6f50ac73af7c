import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { GatewayLimits } from './agent-gateway.js';
import type { KeyServiceOptions } from './key-service.js';
import type { SealChoice } from './seal.js';

export type TlsMinVersion = 'TLSv1.2' | 'TLSv1.3';

/** Everything `Server.start` takes. Defaults are in `resolveServerOptions`. */
export interface ServerOptions {
  /** Directory holding the master key file (and the SQLite database unless `db` is set). */
  dataDir: string;
  /** `postgres://…` for PostgreSQL; a file path (default `<dataDir>/bulwark.db`) for SQLite. */
  db?: string;
  /** PostgreSQL schema to use (tests give each run its own). */
  dbSchema?: string;
  /** Name written into node identities (`spiffe://<clusterName>/node/<id>`); fixed at first start. Default `bulwark`. */
  clusterName?: string;
  api?: { host?: string; port?: number };
  agent?: { host?: string; port?: number };
  /** Extra DNS names or IP addresses for the listener certificates (the host name and loopback are always in). */
  sans?: string[];
  /** Addresses agents are told to use (`https://host:port`); default the agent listener's own. */
  advertisedAgentAddresses?: string[];
  /** Lowest TLS version either listener accepts. Default TLS 1.3. */
  tlsMinVersion?: TlsMinVersion;
  /** Lifetime of node certificates. Default 24 h. */
  nodeCertLifetimeMs?: number;
  heartbeatIntervalMs?: number;
  /** Missed heartbeats before a node is suspect (default 3) and offline (default 10). */
  suspectAfterMissed?: number;
  offlineAfterMissed?: number;
  /** Failed join attempts allowed per source address per minute. Default 10. */
  joinFailuresPerMinute?: number;
  /**
   * Deadlines and connection caps of the agent listener (defaults: GATEWAY_DEFAULTS
   * in agent-gateway.ts — ClientHello 10 s, TLS handshake 10 s, join connection
   * 15 s, WebSocket upgrade 15 s, 50,000 connections, 64 pending per address,
   * session re-check every 60 s). Pass through to the AgentGateway deps as is.
   */
  agentListenerLimits?: GatewayLimits;
  /** Lifetime of a login session. Default 12 h. */
  sessionTtlMs?: number;
  /** How often the audit sweep fires due schedules and fails overdue results. Default 5 s. */
  auditTickMs?: number;
  /** How often the leader looks for nodes without a good backup within their policy's max-age. Default 60 s. */
  backupSweepMs?: number;
  /** How a new cluster's master key is protected (default: a key file). Ignored, or refused if different, for an existing cluster. */
  seal?: SealChoice;
  /** Unseal at start: the passphrase, or enough shares (otherwise a passphrase or shares cluster starts sealed). */
  unseal?: { passphrase?: string; shares?: string[] };
  /** Limits and timings of the keyring (tests lower them). */
  keyring?: KeyServiceOptions;
  clock?: Clock;
  logger?: Logger;
}

export interface ResolvedServerOptions {
  dataDir: string;
  db: string;
  dbSchema: string | undefined;
  clusterName: string;
  api: { host: string; port: number };
  agent: { host: string; port: number };
  sans: string[];
  advertisedAgentAddresses: string[] | undefined;
  tlsMinVersion: TlsMinVersion;
  nodeCertLifetimeMs: number;
  heartbeatIntervalMs: number;
  suspectAfterMissed: number;
  offlineAfterMissed: number;
  joinFailuresPerMinute: number;
  sessionTtlMs: number;
}

export const DEFAULT_API_PORT = 8443;
export const DEFAULT_AGENT_PORT = 8444;
export const DEFAULT_HEARTBEAT_MS = 10_000;
export const DEFAULT_NODE_CERT_LIFETIME_MS = 24 * 3_600_000;
