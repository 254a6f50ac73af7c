import type { LevelWithSilent } from 'pino';
import { BulwarkError } from '../../core/errors.js';
import { parseDuration } from '../../core/duration.js';
import { createLogger } from '../../core/logger.js';
import { Agent } from '../../agent/agent.js';
import { hasIdentity } from '../../agent/identity.js';
import { loadAgentConfig, resolveAuditPolicy, resolveExecPolicy, resolveRestoreDirs, resolveSecretsPolicy } from '../../agent/config.js';
import { joinCluster } from '../../agent/join.js';
import { untilSignal } from '../signals.js';
import type { JoinFlags, RunFlags } from '../commands/agent.js';

export async function joinAgent(flags: JoinFlags): Promise<void> {
  const identity = await joinCluster({
    servers: flags.server,
    token: flags.token,
    caPin: flags.caPin,
    dataDir: flags.dataDir,
    ...(flags.hostname ? { hostname: flags.hostname } : {}),
  });
  process.stdout.write(`Joined cluster "${identity.clusterName}" as node ${identity.nodeId}; identity saved in ${flags.dataDir}\n`);
}

/** Runs until a signal, or until the server says this node is gone (exit code of that error). */
export async function runAgent(flags: RunFlags): Promise<void> {
  const config = await loadAgentConfig(flags.dataDir);
  const agent = await Agent.start({
    exec: resolveExecPolicy(config, flags),
    audit: resolveAuditPolicy(config, flags),
    secrets: resolveSecretsPolicy(config),
    restoreDirs: resolveRestoreDirs(config),
    dataDir: flags.dataDir,
    root: flags.root,
    ...(flags.heartbeatInterval ? { heartbeatIntervalMs: parseDuration(flags.heartbeatInterval) } : {}),
    logger: createLogger({ name: 'bulwark-agent', level: flags.logLevel as LevelWithSilent }),
  });
  const fatal = new Promise<BulwarkError>((resolve) => agent.once('fatal', resolve));
  const outcome = await Promise.race([untilSignal(), fatal]);
  await agent.stop();
  if (outcome instanceof BulwarkError) throw outcome;
}

/** `agent up`: join unless this data directory already holds an identity, then run. */
export async function upAgent(flags: JoinFlags & RunFlags): Promise<void> {
  if (!(await hasIdentity(flags.dataDir))) await joinAgent(flags);
  await runAgent(flags);
}
