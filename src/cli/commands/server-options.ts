import type { Command } from 'commander';
import { BulwarkError } from '../../core/errors.js';
import { parseDuration } from '../../core/duration.js';
import type { ServerOptions } from '../../server/options.js';

export interface ServerFlags {
  dataDir?: string;
  db?: string;
  clusterName?: string;
  apiAddr?: string;
  agentAddr?: string;
  san?: string[];
  advertise?: string[];
  tlsMin?: string;
  heartbeatInterval?: string;
  certLifetime?: string;
  suspectAfter?: string;
  offlineAfter?: string;
  logLevel?: string;
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** The flags `server run` and `up` share. */
export function addServerFlags(cmd: Command, defaults: { apiAddr: string; agentAddr: string }): Command {
  return cmd
    .option('--db <url>', 'postgres://… for PostgreSQL (default: SQLite in the data directory)')
    .option('--cluster-name <name>', 'name in node identities, fixed at first start', 'bulwark')
    .option('--api-addr <host:port>', 'API listener address', defaults.apiAddr)
    .option('--agent-addr <host:port>', 'agent listener address', defaults.agentAddr)
    .option('--san <name>', 'extra DNS name or IP for the listener certificates (repeatable)', collect, [])
    .option('--advertise <url>', 'agent address to put in join commands (repeatable)', collect)
    .option('--tls-min <version>', 'lowest TLS version: 1.3 or 1.2', '1.3')
    .option('--heartbeat-interval <duration>', 'agent heartbeat interval', '10s')
    .option('--cert-lifetime <duration>', 'node certificate lifetime', '24h')
    .option('--suspect-after <n>', 'missed heartbeats before a node is suspect', '3')
    .option('--offline-after <n>', 'missed heartbeats before a node is offline', '10')
    .option('--log-level <level>', 'server log level (trace … error, silent)', 'warn');
}

export function parseAddr(text: string, flag: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text);
  const port = Number(match?.[3]);
  if (!match || port > 65535) throw new BulwarkError('BAD_REQUEST', `${flag} "${text}" is not HOST:PORT (e.g. 127.0.0.1:8443, 0.0.0.0:8444, [::1]:8443)`);
  return { host: match[1] ?? (match[2] || '0.0.0.0'), port };
}

export function serverOptionsFrom(flags: ServerFlags, dataDir: string): ServerOptions {
  if (flags.tlsMin !== '1.3' && flags.tlsMin !== '1.2') throw new BulwarkError('BAD_REQUEST', `--tls-min must be 1.3 or 1.2, not "${flags.tlsMin ?? ''}"`);
  if (flags.clusterName !== undefined && !/^[a-z0-9._-]{1,63}$/.test(flags.clusterName)) {
    throw new BulwarkError('BAD_REQUEST', `--cluster-name "${flags.clusterName}" may use only a-z, 0-9, ".", "_" and "-"`);
  }
  const suspect = wholeNumber(flags.suspectAfter ?? '3', '--suspect-after');
  const offline = wholeNumber(flags.offlineAfter ?? '10', '--offline-after');
  if (offline <= suspect) throw new BulwarkError('BAD_REQUEST', `--offline-after (${offline}) must be greater than --suspect-after (${suspect})`);
  return {
    dataDir,
    suspectAfterMissed: suspect,
    offlineAfterMissed: offline,
    ...(flags.db ? { db: flags.db } : {}),
    ...(flags.clusterName ? { clusterName: flags.clusterName } : {}),
    api: parseAddr(flags.apiAddr ?? '127.0.0.1:8443', '--api-addr'),
    agent: parseAddr(flags.agentAddr ?? '0.0.0.0:8444', '--agent-addr'),
    sans: flags.san ?? [],
    ...(flags.advertise ? { advertisedAgentAddresses: flags.advertise } : {}),
    tlsMinVersion: flags.tlsMin === '1.2' ? 'TLSv1.2' : 'TLSv1.3',
    heartbeatIntervalMs: parseDuration(flags.heartbeatInterval ?? '10s'),
    nodeCertLifetimeMs: parseDuration(flags.certLifetime ?? '24h'),
  };
}

function wholeNumber(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 10_000) throw new BulwarkError('BAD_REQUEST', `${flag} must be a whole number from 1 to 10000, not "${text}"`);
  return n;
}
