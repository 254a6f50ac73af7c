import type { Command } from 'commander';
import { defaultDataDir } from '../context.js';
import type { UpFlags } from '../actions/run-server.js';
import { addServerFlags } from './server-options.js';

export function registerUp(program: Command): void {
  const cmd = program
    .command('up')
    .description('initialise a cluster on first run (or reuse it), start the server and enroll an agent for this machine')
    .option('--data-dir <dir>', 'where the cluster lives', defaultDataDir())
    .option('--no-agent', 'do not run an agent for this machine')
    .option('--root <dir>', 'root directory the local agent reads facts from', '/')
    .option('--passphrase-file <file>', 'unseal at start with the passphrase in this file (a passphrase cluster otherwise starts sealed)');
  addServerFlags(cmd, { apiAddr: '127.0.0.1:8443', agentAddr: '0.0.0.0:8444' });
  cmd.addHelpText(
    'after',
    `
Examples:
  $ bulwark up                                  # cluster in ~/.local/share/bulwark, API on 127.0.0.1:8443
  $ bulwark up --data-dir /var/lib/bulwark --api-addr 0.0.0.0:8443 --san bulwark.example.com
  $ bulwark up --db postgres://bulwark@db:5432/bulwark --no-agent`,
  );
  cmd.action(async (flags: UpFlags) => (await import('../actions/run-server.js')).runUp(flags));
}

