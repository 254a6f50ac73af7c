import type { Command } from 'commander';
import { isValidLabelKey, parseLabels, parseSelector } from '../../core/labels.js';
import { NODE_STATES, type NodeView } from '../../protocol/api.js';
import { BulwarkError } from '../../core/errors.js';
import { clientFrom, type ClientFlags } from '../context.js';
import { ago, clean, formatLabels, isoTime, printJson, printTable } from '../output.js';
import { addClientFlags } from './token.js';

export function registerNodes(program: Command): void {
  const group = program.command('nodes').description('machines in the fleet');

  const ls = addClientFlags(group.command('ls').description('list nodes'))
    .option('--selector <selector>', 'label selector, e.g. "env=prod,role in (db,web),!legacy"')
    .option('--state <state>', `only nodes in this state (${NODE_STATES.join(', ')})`)
    .option('--all', 'include removed nodes')
    .option('--json', 'print JSON');
  ls.addHelpText('after', '\nExamples:\n  $ bulwark nodes ls\n  $ bulwark nodes ls --selector env=prod --json\n  $ bulwark nodes ls --state offline');
  ls.action(async (flags: ClientFlags & { selector?: string; state?: string; all?: boolean; json?: boolean }) => {
    // Checked here too, so a typo fails before any network call.
    if (flags.selector !== undefined) parseSelector(flags.selector);
    if (flags.state !== undefined && !(NODE_STATES as readonly string[]).includes(flags.state)) {
      throw new BulwarkError('BAD_REQUEST', `--state must be one of ${NODE_STATES.join(', ')}, not "${flags.state}"`);
    }
    const { nodes } = await (await clientFrom(flags)).listNodes({
      ...(flags.selector !== undefined ? { selector: flags.selector } : {}),
      ...(flags.state !== undefined ? { state: flags.state } : {}),
      includeRemoved: flags.all === true,
    });
    if (flags.json) return printJson(nodes);
    printTable(
      { id: 'ID', name: 'NAME', state: 'STATE', seen: 'LAST SEEN', os: 'OS', labels: 'LABELS' },
      nodes.map((n) => ({
        id: n.id,
        name: n.name,
        state: n.state,
        seen: ago(n.lastSeenAt),
        os: n.facts?.os.prettyName ?? '-',
        labels: formatLabels(n.labels),
      })),
    );
  });

  const show = addClientFlags(group.command('show').argument('<node>', 'node id or name').description('show one node with its facts')).option('--json', 'print JSON');
  show.addHelpText('after', '\nExamples:\n  $ bulwark nodes show db-1\n  $ bulwark nodes show node_abc… --json');
  show.action(async (ref: string, flags: ClientFlags & { json?: boolean }) => {
    const node = await (await clientFrom(flags)).getNode(ref);
    if (flags.json) return printJson(node);
    printNode(node);
  });

  const rm = addClientFlags(group.command('rm').argument('<node>', 'node id or name').description('remove a node: revokes its certificate and closes its connection at once'));
  rm.addHelpText('after', '\nExamples:\n  $ bulwark nodes rm db-1');
  rm.action(async (ref: string, flags: ClientFlags) => {
    const node = await (await clientFrom(flags)).removeNode(ref);
    process.stdout.write(`Node ${node.id} (${node.name}) removed; its certificates are revoked\n`);
  });

  const label = addClientFlags(
    group
      .command('label')
      .argument('<node>', 'node id or name')
      .argument('<changes...>', 'key=value to set a label, key- to remove one')
      .description("set and remove a node's labels (what selectors, roles and secret deliveries match)"),
  ).option('--json', 'print the node as JSON');
  label.addHelpText(
    'after',
    '\nA node that stops matching a secret delivery\'s selector has that file removed;\none that starts matching receives it, within a heartbeat.\n\nExamples:\n  $ bulwark nodes label db-1 role=db tier=backend\n  $ bulwark nodes label db-1 role-\n  $ bulwark nodes label node_abc… env=prod legacy-',
  );
  label.action(async (ref: string, changes: string[], flags: ClientFlags & { json?: boolean }) => {
    const patch = parseLabelChanges(changes);
    const node = await (await clientFrom(flags)).setNodeLabels(ref, patch);
    if (flags.json) return printJson(node);
    process.stdout.write(`Node ${clean(node.name)} (${node.id}) labels: ${clean(formatLabels(node.labels))}\n`);
  });
}

/** `k=v` sets, `k-` removes (kubectl's form). */
export function parseLabelChanges(changes: readonly string[]): { set: Record<string, string>; remove: string[] } {
  const remove: string[] = [];
  const pairs: string[] = [];
  for (const change of changes) {
    if (!change.includes('=') && change.endsWith('-')) {
      const key = change.slice(0, -1);
      if (!isValidLabelKey(key)) throw new BulwarkError('INVALID_LABEL', `label key "${key}" is invalid: use letters, digits, "-", "_", "." and an optional "prefix/"`);
      remove.push(key);
    } else pairs.push(change);
  }
  const set = parseLabels(pairs);
  const both = remove.filter((k) => Object.hasOwn(set, k));
  if (both.length > 0) throw new BulwarkError('BAD_REQUEST', `label "${both[0] ?? ''}" is both set and removed; do one or the other`);
  return { set, remove };
}

function printNode(n: NodeView): void {
  const f = n.facts;
  const rows: [string, string][] = [
    ['id', n.id],
    ['name', n.name],
    ['state', `${n.state}${n.connected ? ' (connected)' : ''}`],
    ['labels', formatLabels(n.labels)],
    ['joined', isoTime(n.joinedAt)],
    ['last seen', `${isoTime(n.lastSeenAt)} (${ago(n.lastSeenAt)})`],
    ['certificate', n.certSerial ? `${n.certSerial}, expires ${isoTime(n.certNotAfter)}` : '-'],
    ['agent', `${n.agentVersion ?? '-'} (protocol ${n.protocolVersion ?? '-'})`],
  ];
  if (f) {
    rows.push(
      ['hostname', f.hostname],
      ['os', f.os.prettyName ?? f.os.name ?? '-'],
      ['kernel', `${f.kernel ?? '-'} ${f.arch ?? ''}`.trim()],
      ['cpus / memory', `${f.cpuCount ?? '-'} / ${f.memoryBytes ? `${Math.round(f.memoryBytes / 2 ** 20)} MiB` : '-'}`],
      ['addresses', f.ipAddresses.map((a) => `${a.address} (${a.interface})`).join(', ') || '-'],
      ['listening', f.listeningPorts.map((p) => `${p.protocol}/${p.port}${p.process ? ` ${p.process.name}` : ''}`).join(', ') || '-'],
      ['packages', f.packages ? `${f.packages.count} (${f.packages.manager})` : '-'],
    );
  }
  const width = Math.max(...rows.map(([k]) => k.length));
  // Facts come from the nodes: a hostile one must not drive the operator's terminal.
  for (const [k, v] of rows) process.stdout.write(`${k.padEnd(width)}  ${clean(v)}\n`);
}
