import type { Command } from 'commander';
import { defaultDataDir } from '../context.js';
import { addServerFlags, type ServerFlags } from './server-options.js';
import type { InitSealFlags } from '../actions/run-server.js';

export function registerServer(program: Command): void {
  const group = program.command('server').description('run the control plane');

  const init = group
    .command('init')
    .description('create the cluster (CA, master key, admin token) and exit')
    .option('--data-dir <dir>', 'where the cluster lives', defaultDataDir());
  addServerFlags(init, { apiAddr: '127.0.0.1:0', agentAddr: '127.0.0.1:0' });
  init
    .option('--passphrase', 'protect the master key with a passphrase (asked twice, no echo); the server then starts sealed')
    .option('--passphrase-stdin', 'read that passphrase from stdin')
    .option('--shares <n>', 'split the master key into N shares (printed once); the server then starts sealed')
    .option('--threshold <m>', 'shares needed to unseal (with --shares)');
  init.addHelpText(
    'after',
    `
The master key is kept in a key file in the data directory unless --passphrase or
--shares is given; with those, every start is sealed until \`bulwark unseal\`.

Examples:
  $ bulwark server init --data-dir /var/lib/bulwark --cluster-name prod
  $ bulwark server init --shares 5 --threshold 3
  $ bulwark server init --passphrase`,
  );
  init.action(async (flags: ServerFlags & InitSealFlags & { dataDir: string }) => {
    const { printServerBanner, startServer, sealChoiceFrom } = await import('../actions/run-server.js');
    const server = await startServer({ ...flags, seal: await sealChoiceFrom(flags) });
    printServerBanner(server);
    await server.close();
  });

  const run = group
    .command('run')
    .description('run the server (creating the cluster on first start) until SIGINT/SIGTERM')
    .option('--data-dir <dir>', 'where the cluster lives', defaultDataDir());
  addServerFlags(run, { apiAddr: '127.0.0.1:8443', agentAddr: '0.0.0.0:8444' });
  run.addHelpText(
    'after',
    `
Examples:
  $ bulwark server run --api-addr 0.0.0.0:8443 --san bulwark.example.com
  $ bulwark server run --db postgres://bulwark@db:5432/bulwark   # one of several replicas
  $ bulwark server run --passphrase-file /run/secrets/bulwark    # unseal a passphrase cluster at start`,
  );
  run.option('--passphrase-file <file>', 'unseal at start with the passphrase in this file (a passphrase cluster otherwise starts sealed)');
  run.action(async (flags: ServerFlags & { dataDir: string; passphraseFile?: string }) => {
    const { printServerBanner, startServer } = await import('../actions/run-server.js');
    const { untilSignal } = await import('../signals.js');
    const server = await startServer(flags);
    printServerBanner(server);
    await untilSignal();
    await server.close();
  });
}
