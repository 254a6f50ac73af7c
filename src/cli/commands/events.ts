import type { Command } from 'commander';
import { BulwarkError } from '../../core/errors.js';
import type { EventView } from '../../protocol/api.js';
import { clientFrom, type ClientFlags } from '../context.js';
import { isoTime, printJson } from '../output.js';
import { addClientFlags } from './token.js';

export function registerEvents(program: Command): void {
  const cmd = addClientFlags(program.command('events').description('joins, renewals, removals and state changes of nodes'))
    .option('--follow', 'keep printing new events as they happen')
    .option('--node <node>', 'only events of this node (id or name)')
    .option('--type <type>', 'only events of this type, e.g. node.offline')
    .option('--limit <n>', 'how many recent events to show first', '50')
    .option('--json', 'print JSON (one object per line with --follow)');
  cmd.addHelpText('after', '\nExamples:\n  $ bulwark events\n  $ bulwark events --follow --type node.offline\n  $ bulwark events --node db-1 --json');
  cmd.action(async (flags: ClientFlags & { follow?: boolean; node?: string; type?: string; limit: string; json?: boolean }) => {
    const limit = Number(flags.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new BulwarkError('BAD_REQUEST', `--limit must be a whole number from 1 to 1000, not "${flags.limit}"`);
    const client = await clientFrom(flags);
    const filter = { ...(flags.node ? { node: flags.node } : {}), ...(flags.type ? { type: flags.type } : {}) };
    const first = await client.listEvents({ ...filter, limit });
    if (flags.json && !flags.follow) return printJson(first.events);
    const print = (e: EventView): void => {
      if (flags.json) process.stdout.write(`${JSON.stringify(e)}\n`);
      else process.stdout.write(`${isoTime(e.time)}  ${e.type.padEnd(20)} ${e.nodeId ?? '-'}  ${JSON.stringify(e.details)}\n`);
    };
    first.events.forEach(print);
    if (!flags.follow) return;
    let after = first.lastId;
    let stop = false;
    process.once('SIGINT', () => {
      stop = true;
      process.exit(0);
    });
    while (!stop) {
      const page = await client.listEvents({ ...filter, after, limit: 1000, wait: 30 });
      page.events.forEach(print);
      after = page.lastId;
    }
  });
}
