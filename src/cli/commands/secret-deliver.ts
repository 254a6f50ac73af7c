import type { Command } from 'commander';
import { BulwarkError } from '../../core/errors.js';
import { parseSelector } from '../../core/labels.js';
import { SecretDeliveriesClient } from '../../client/secret-deliveries-client.js';
import { CreateSecretDeliverySchema, type SecretDeliveryView } from '../../protocol/secret-delivery.js';
import { clientFrom, type ClientFlags } from '../context.js';
import { ago, clean, printJson, printTable } from '../output.js';
import { addClientFlags } from './token.js';

interface DeliverFlags extends ClientFlags {
  selector: string;
  to: string;
  mode: string;
  owner?: string;
  group?: string;
  json?: boolean;
}

async function deliveries(flags: ClientFlags): Promise<SecretDeliveriesClient> {
  return new SecretDeliveriesClient(await clientFrom(flags));
}

/** Adds `deliver`, `deliveries` and `undeliver` to the `secret` command group. */
export function registerSecretDeliveryCommands(group: Command): void {
  const deliver = addClientFlags(
    group
      .command('deliver')
      .argument('<path>', 'the secret, e.g. app/db-password')
      .description("write a secret's current version to a file on every node a selector matches, and keep it current"),
  )
    .requiredOption('--selector <selector>', 'label selector of the nodes, e.g. "role=db"')
    .requiredOption('--to <file>', 'absolute path of the file on the nodes')
    .option('--mode <octal>', 'file mode', '0400')
    .option('--owner <user>', 'owner of the file on the nodes (a name from their /etc/passwd, or a uid)')
    .option('--group <group>', "group of the file (default: the owner's primary group)")
    .option('--json', 'print the delivery as JSON');
  deliver.addHelpText(
    'after',
    `
Each matching node's agent fetches the value over its mTLS channel and writes
the file atomically with the mode and owner given; a new version of the secret
reaches the nodes within a heartbeat. A node that stops matching the selector
(its labels change) has the file removed. Agents refuse protected system
locations (/etc/shadow, /etc/sudoers.d, /usr, any .ssh directory, ...) and
files they did not write themselves, unless their config.yaml allows a
directory with secrets.allow_dirs.

Examples:
  $ bulwark secret deliver app/db-password --selector role=db --to /etc/app/db-password --mode 0400 --owner app
  $ bulwark secret deliver tls/web-key --selector 'tier in (web)' --to /etc/nginx/tls/web.key --owner root --group www-data --mode 0440`,
  );
  deliver.action(async (path: string, flags: DeliverFlags) => {
    parseSelector(flags.selector);
    const parsed = CreateSecretDeliverySchema.safeParse({
      path,
      selector: flags.selector,
      dest: flags.to,
      mode: flags.mode,
      ...(flags.owner === undefined ? {} : { owner: flags.owner }),
      ...(flags.group === undefined ? {} : { group: flags.group }),
    });
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const field = { path: '<path>', dest: '--to', mode: '--mode', owner: '--owner', group: '--group', selector: '--selector' }[String(issue?.path[0] ?? '')] ?? 'argument';
      throw new BulwarkError('BAD_REQUEST', `${field}: ${issue?.message ?? 'invalid'}`);
    }
    const created = await (await deliveries(flags)).create(parsed.data);
    if (flags.json) return printJson(created);
    process.stdout.write(`Delivery ${created.id}: ${created.path} → ${created.dest} (mode ${created.mode}) on ${created.selector}; ${created.nodes.length} node(s) match now\n`);
  });

  const list = addClientFlags(group.command('deliveries').argument('[path]', 'only deliveries of this secret').description('list secret deliveries with the state of each node'))
    .option('--all', 'include removed deliveries')
    .option('--json', 'print JSON');
  list.addHelpText('after', '\nStates: delivered, pending (not yet reported, or a removal under way), error (see the message), removed.\n\nExamples:\n  $ bulwark secret deliveries\n  $ bulwark secret deliveries app/db-password --json');
  list.action(async (path: string | undefined, flags: ClientFlags & { all?: boolean; json?: boolean }) => {
    const { deliveries: items } = await (await deliveries(flags)).list({ ...(path === undefined ? {} : { path }), all: flags.all === true });
    if (flags.json) return printJson(items);
    printDeliveries(items);
  });

  const undeliver = addClientFlags(group.command('undeliver').argument('<delivery-id>', 'a delivery id from `bulwark secret deliveries`').description('stop a delivery: the nodes remove its file'));
  undeliver.addHelpText('after', '\nA node removes the file only if it still holds what its agent wrote; a file changed on the node is left in place and reported.\n\nExamples:\n  $ bulwark secret undeliver sdl_abcdefghijklmnop');
  undeliver.action(async (id: string, flags: ClientFlags) => {
    await (await deliveries(flags)).remove(id);
    process.stdout.write(`Delivery ${id} removed; the nodes remove its file at their next heartbeat\n`);
  });
}

function printDeliveries(items: readonly SecretDeliveryView[]): void {
  if (items.length === 0) {
    process.stdout.write('No secret deliveries.\n');
    return;
  }
  const rows: Record<string, string>[] = [];
  for (const d of items) {
    const owner = d.owner === null && d.group === null ? '-' : `${d.owner ?? '-'}:${d.group ?? '-'}`;
    const head = { id: d.id, secret: `${d.path}${d.currentVersion === null ? ' (gone)' : ` v${d.currentVersion}`}`, dest: `${d.dest} ${d.mode} ${owner}`, selector: d.deletedAt === null ? d.selector : `${d.selector} (removed)` };
    if (d.nodes.length === 0) rows.push({ ...head, node: '-', state: '-', seen: '', error: '' });
    d.nodes.forEach((n, i) => {
      const first = i === 0 ? head : { id: '', secret: '', dest: '', selector: '' };
      rows.push({
        ...first,
        node: n.nodeName,
        state: `${n.state}${n.version === null ? '' : ` v${n.version}`}`,
        seen: n.updatedAt === null ? '' : ago(n.updatedAt),
        error: n.error === null ? '' : clean(n.error),
      });
    });
  }
  printTable({ id: 'ID', secret: 'SECRET', dest: 'FILE', selector: 'SELECTOR', node: 'NODE', state: 'STATE', seen: 'REPORTED', error: 'ERROR' }, rows);
}
