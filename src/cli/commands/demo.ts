import type { Command } from 'commander';
import type { DemoFlags } from '../actions/demo.js';

export function registerDemo(program: Command): void {
  const cmd = program
    .command('demo')
    .description('start a server and N simulated agents, each with its own key, certificate and host facts')
    .option('--nodes <n>', 'how many simulated agents', '5')
    .option('--data-dir <dir>', 'where the demo cluster lives (default: a new temporary directory)')
    .option('--api-addr <host:port>', 'API listener address', '127.0.0.1:0')
    .option('--agent-addr <host:port>', 'agent listener address', '127.0.0.1:0');
  cmd.addHelpText('after', '\nExamples:\n  $ bulwark demo --nodes 5\n  then, in another terminal, the commands it prints (each with --data-dir)');
  cmd.action(async (flags: DemoFlags) => (await import('../actions/demo.js')).runDemo(flags));
}
