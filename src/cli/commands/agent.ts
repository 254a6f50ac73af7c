import { join } from 'node:path';
import type { Command } from 'commander';
import { defaultDataDir } from '../context.js';

export interface JoinFlags {
  server: string[];
  token: string;
  caPin: string;
  dataDir: string;
  hostname?: string;
}

export interface RunFlags {
  dataDir: string;
  root: string;
  heartbeatInterval?: string;
  logLevel: string;
  enableExec?: boolean;
  execAllow?: string[];
  enableCommandChecks?: boolean;
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
    .option('--log-level <level>', 'log level (trace … error, silent)', 'info')
    .option('--enable-exec', 'let `bulwark exec` run commands on this machine (off by default; also exec.enabled in <data dir>/config.yaml)')
    .option('--exec-allow <pattern>', 'allow only commands matching this pattern, e.g. "systemctl status *" (repeatable; replaces exec.allow of config.yaml)', collect)
    .option('--enable-command-checks', 'let audit policies run their command checks (c: rules) on this machine (off by default; also audit.commands in config.yaml)');
}

export function registerAgent(program: Command): void {
  const group = program.command('agent').description('run the agent of this machine');

  const joinCmd = addJoinFlags(group.command('join').description('enroll this machine: checks the CA pin, creates a key here, sends only a CSR'));
  joinCmd.option('--data-dir <dir>', 'where the agent keeps its identity', agentDataDir());
  joinCmd.addHelpText('after', '\nExamples:\n  $ bulwark agent join --server https://bulwark.example.com:8444 --token bwj_… --ca-pin sha256:…');
  joinCmd.action(async (flags: JoinFlags) => (await import('../actions/agent.js')).joinAgent(flags));

  const runCmd = addRunFlags(group.command('run').description('keep this machine connected: heartbeats, facts, certificate renewal'));
  runCmd.option('--data-dir <dir>', 'where the agent keeps its identity', agentDataDir());
  runCmd.addHelpText(
    'after',
    '\nExamples:\n  $ bulwark agent run\n  $ bulwark agent run --data-dir /var/lib/bulwark-agent --log-level warn\n  $ bulwark agent run --enable-exec --exec-allow uptime --exec-allow "systemctl status *"',
  );
  runCmd.action(async (flags: RunFlags) => (await import('../actions/agent.js')).runAgent(flags));

  const upCmd = addRunFlags(addJoinFlags(group.command('up').description('join (unless already joined), then run')));
  upCmd.option('--data-dir <dir>', 'where the agent keeps its identity', agentDataDir());
  upCmd.addHelpText('after', '\nExamples:\n  $ bulwark agent up --server https://10.0.0.5:8444 --token bwj_… --ca-pin sha256:…');
  upCmd.action(async (flags: JoinFlags & RunFlags) => (await import('../actions/agent.js')).upAgent(flags));
}
