import { join } from 'node:path';
import type { Command } from 'commander';
import type { LevelWithSilent } from 'pino';
import { BulwarkError } from '../../core/errors.js';
import { parseDuration } from '../../core/duration.js';
import { createLogger } from '../../core/logger.js';
import { Agent } from '../../agent/agent.js';
import { hasIdentity } from '../../agent/identity.js';
import { joinCluster } from '../../agent/join.js';
import { defaultDataDir } from '../context.js';
import { untilSignal } from '../signals.js';

interface JoinFlags {
  server: string[];
  token: string;
  caPin: string;
  dataDir: string;
  hostname?: string;
}

interface RunFlags {
  dataDir: string;
  root: string;
  heartbeatInterval?: string;
  logLevel: string;
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];
const agentDataDir = (): string => join(defaultDataDir(), 'agent');

function addJoinFlags(cmd: Command): Command {
  return cmd
    .requiredOption('--server <url>', 'agent listener of a server, https://HOST:8444 (repeat for failover)', collect)
    .requiredOption('--token <token>', 'join token from `bulwark token create`')
    .requiredOption('--ca-pin <sha256:hex>', 'pin of the cluster CA, printed by `bulwark up` and `bulwark token create`')
    .option('--hostname <name>', 'name to join under (default: this machine’s host name)');
}

function addRunFlags(cmd: Command): Command {
  return cmd
    .option('--root <dir>', 'root directory facts are read from', '/')
    .option('--heartbeat-interval <duration>', 'override the server’s heartbeat interval')
    .option('--log-level <level>', 'log level (trace … error, silent)', 'info');
}

async function join_(flags: JoinFlags): Promise<void> {
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
async function run(flags: RunFlags): Promise<void> {
  const agent = await Agent.start({
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

export function registerAgent(program: Command): void {
  const group = program.command('agent').description('run the agent of this machine');

  const joinCmd = addJoinFlags(group.command('join').description('enroll this machine: checks the CA pin, creates a key here, sends only a CSR'));
  joinCmd.option('--data-dir <dir>', 'where the agent keeps its identity', agentDataDir());
  joinCmd.addHelpText('after', '\nExamples:\n  $ bulwark agent join --server https://bulwark.example.com:8444 --token bwj_… --ca-pin sha256:…');
  joinCmd.action(join_);

  const runCmd = addRunFlags(group.command('run').description('keep this machine connected: heartbeats, facts, certificate renewal'));
  runCmd.option('--data-dir <dir>', 'where the agent keeps its identity', agentDataDir());
  runCmd.addHelpText('after', '\nExamples:\n  $ bulwark agent run\n  $ bulwark agent run --data-dir /var/lib/bulwark-agent --log-level warn');
  runCmd.action(run);

  const upCmd = addRunFlags(addJoinFlags(group.command('up').description('join (unless already joined), then run')));
  upCmd.option('--data-dir <dir>', 'where the agent keeps its identity', agentDataDir());
  upCmd.addHelpText('after', '\nExamples:\n  $ bulwark agent up --server https://10.0.0.5:8444 --token bwj_… --ca-pin sha256:…');
  upCmd.action(async (flags: JoinFlags & RunFlags) => {
    if (!(await hasIdentity(flags.dataDir))) await join_(flags);
    await run(flags);
  });
}
