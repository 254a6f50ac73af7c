import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BulwarkError } from '../../core/errors.js';
import type { SealChoice } from '../../server/seal.js';
import { newPassphrase, parseShares, printShares } from '../commands/keys.js';
import { createLogger } from '../../core/logger.js';
import type { LevelWithSilent } from 'pino';
import { Agent } from '../../agent/agent.js';
import { hasIdentity } from '../../agent/identity.js';
import { joinCluster } from '../../agent/join.js';
import { ADMIN_TOKEN_FILE, Server } from '../../server/server.js';
import { defaultDataDir, saveClientConfig } from '../context.js';
import { serverOptionsFrom, type ServerFlags } from '../commands/server-options.js';
import { untilSignal } from '../signals.js';

const LOCAL_AGENT_DIR = 'agent';

export interface InitSealFlags {
  passphrase?: boolean;
  passphraseStdin?: boolean;
  shares?: string;
  threshold?: string;
}

/** How `server init` protects the master key: shares, a passphrase, or (default) a key file. */
export async function sealChoiceFrom(flags: InitSealFlags): Promise<SealChoice> {
  const byShares = flags.shares !== undefined || flags.threshold !== undefined;
  const byPassphrase = flags.passphrase === true || flags.passphraseStdin === true;
  if (byShares && byPassphrase) throw new BulwarkError('BAD_REQUEST', 'choose either --shares/--threshold or --passphrase, not both');
  if (byShares) return { method: 'shamir', ...parseShares(flags.shares, flags.threshold) };
  if (byPassphrase) return { method: 'passphrase', passphrase: await newPassphrase(flags.passphraseStdin) };
  return { method: 'file' };
}

/** Starts the server from flags and remembers its API address for later CLI calls. */
export async function startServer(flags: ServerFlags & { dataDir?: string; seal?: SealChoice; passphraseFile?: string }): Promise<Server> {
  const dataDir = flags.dataDir ?? defaultDataDir();
  const logger = createLogger({ name: 'bulwark-server', level: (flags.logLevel ?? 'warn') as LevelWithSilent });
  const unseal = flags.passphraseFile === undefined ? undefined : { passphrase: await readPassphraseFile(flags.passphraseFile) };
  const server = await Server.start({ ...serverOptionsFrom(flags, dataDir), logger, ...(flags.seal ? { seal: flags.seal } : {}), ...(unseal ? { unseal } : {}) });
  await saveClientConfig(dataDir, server.apiUrl);
  return server;
}

async function readPassphraseFile(path: string): Promise<string> {
  const text = await readFile(path, 'utf8').catch((err: unknown) => {
    throw new BulwarkError('BAD_REQUEST', `--passphrase-file ${path} cannot be read: ${(err as Error).message}`);
  });
  return text.replace(/\r?\n$/, '');
}

export function printServerBanner(server: Server): void {
  const dataDir = server.options.dataDir;
  if (server.sealed) {
    const s = server.sealStatus();
    const how = s.method === 'shamir' ? `${s.threshold} of ${s.shares ?? '?'} key shares` : 'its passphrase';
    process.stdout.write(`Bulwark server is running SEALED\n  API:   ${server.apiUrl}\n  It answers only /healthz and unseal until ${how} are given: run \`bulwark unseal\`.\n`);
    return;
  }
  const lines = [
    `Bulwark server is running (cluster "${server.clusterName}")`,
    `  API:          ${server.apiUrl}`,
    `  agents:       ${server.agentUrl}`,
    `  CA pin:       ${server.caPin}`,
    server.adminToken
      ? `  admin token:  ${server.adminToken}\n                (shown once; saved 0600 in ${join(dataDir, ADMIN_TOKEN_FILE)})`
      : `  admin token:  in ${join(dataDir, ADMIN_TOKEN_FILE)}`,
    `  data:         ${dataDir}`,
    '',
    'Add a machine:  bulwark token create --ttl 1h --label env=prod',
    'Add a person:   bulwark user add NAME --role admin   (then: bulwark login --user NAME; bulwark mfa enroll)',
    'Watch:          bulwark nodes ls   |   bulwark events --follow',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  if (server.initShares) printShares(server.initShares);
}

/** Enrolls this machine through the real join path (token, pin, CSR) the first time, then runs its agent. */
export async function startLocalAgent(server: Server, dataDir: string, root: string, logLevel: string): Promise<Agent> {
  const agentDir = join(dataDir, LOCAL_AGENT_DIR);
  if (!(await hasIdentity(agentDir))) {
    const { token } = await server.joinTokens.create({ ttlMs: 300_000, uses: 1, labels: { 'bulwark.io/local': 'true' }, createdBy: 'bulwark up' });
    const identity = await joinCluster({ servers: [server.agentUrl], token, caPin: server.caPin, dataDir: agentDir });
    process.stdout.write(`Enrolled this machine as node ${identity.nodeId}\n`);
  }
  const agent = await Agent.start({ dataDir: agentDir, root, servers: [server.agentUrl], logger: createLogger({ name: 'bulwark-agent', level: logLevel as LevelWithSilent }) });
  agent.once('connected', ({ nodeId }) => process.stdout.write(`Local agent connected (node ${nodeId})\n`));
  return agent;
}

export type UpFlags = ServerFlags & { dataDir: string; agent: boolean; root: string; passphraseFile?: string };

/** `bulwark up`: server, banner, local agent, then wait for a signal. */
export async function runUp(flags: UpFlags): Promise<void> {
  const server = await startServer(flags);
  let agent: Agent | undefined;
  try {
    printServerBanner(server);
    if (server.sealed && flags.agent) {
      // The local agent needs the cluster's CA and join tokens: it starts once the server is unsealed.
      const unsealed = server.whenUnsealed();
      const stop = untilSignal();
      if ((await Promise.race([unsealed.then(() => 'unsealed'), stop.then(() => 'stop')])) === 'stop') {
        await server.close();
        return;
      }
      printServerBanner(server);
    }
    if (flags.agent) agent = await startLocalAgent(server, flags.dataDir, flags.root, flags.logLevel ?? 'warn');
  } catch (err) {
    await server.close();
    throw err;
  }
  await untilSignal();
  process.stdout.write('shutting down…\n');
  await agent?.stop();
  await server.close();
}
