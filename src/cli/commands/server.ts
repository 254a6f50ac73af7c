import type { Command } from 'commander';
import { defaultDataDir } from '../context.js';
import { addServerFlags, type ServerFlags } from './server-options.js';

export function registerServer(program: Command): void {
  const group = program.command('server').description('run the control plane');

  const init = group
    .command('init')
    .description('create the cluster (CA, master key, admin token) and exit')
    .option('--data-dir <dir>', 'where the cluster lives', defaultDataDir());
  addServerFlags(init, { apiAddr: '127.0.0.1:0', agentAddr: '127.0.0.1:0' });
  init.addHelpText('after', '\nExamples:\n  $ bulwark server init --data-dir /var/lib/bulwark --cluster-name prod');
  init.action(async (flags: ServerFlags & { dataDir: string }) => {
    const { printServerBanner, startServer } = await import('../actions/run-server.js');
    const server = await startServer(flags);
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
  $ bulwark server run --db postgres://bulwark@db:5432/bulwark   # one of several replicas`,
  );
  run.action(async (flags: ServerFlags & { dataDir: string }) => {
    const { printServerBanner, startServer } = await import('../actions/run-server.js');
    const { untilSignal } = await import('../signals.js');
    const server = await startServer(flags);
    printServerBanner(server);
    await untilSignal();
    await server.close();
  });
}
