import type { Command } from 'commander';
import { formatDuration, parseDuration } from '../../core/duration.js';
import { BulwarkError } from '../../core/errors.js';
import { parseLabels } from '../../core/labels.js';
import { clientFrom, defaultDataDir, type ClientFlags } from '../context.js';
import { formatLabels, isoTime, printJson, printTable } from '../output.js';

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export function addClientFlags(cmd: Command): Command {
  return cmd
    .option('--server <url>', 'API address, https://HOST:8443 (default: the one `bulwark up` remembered)')
    .option('--token <token>', 'API token (default: $BULWARK_TOKEN, then the admin token in the data directory)')
    .option('--ca <file>', 'cluster CA certificate (default: ca.pem in the data directory)')
    .option('--data-dir <dir>', 'data directory of a local server', defaultDataDir());
}

export function registerToken(program: Command): void {
  const group = program.command('token').description('join tokens that let machines enroll');

  const create = addClientFlags(group.command('create').description('create a join token and print the join command'))
    .option('--ttl <duration>', 'how long the token is valid', '1h')
    .option('--uses <n>', 'how many machines may join with it', '1')
    .option('--label <key=value>', 'label given to nodes that join with it (repeatable)', collect, [])
    .option('--description <text>', 'what the token is for')
    .option('--json', 'print JSON');
  create.addHelpText(
    'after',
    `
Examples:
  $ bulwark token create --ttl 1h --uses 1 --label env=prod --label role=db
  $ bulwark token create --ttl 30m --uses 50 --label env=staging --json | jq -r .token`,
  );
  create.action(async (flags: ClientFlags & { ttl: string; uses: string; label: string[]; description?: string; json?: boolean }) => {
    const uses = Number(flags.uses);
    if (!Number.isInteger(uses) || uses < 1) throw new BulwarkError('BAD_REQUEST', `--uses must be a whole number ≥ 1, not "${flags.uses}"`);
    const ttlMs = parseDuration(flags.ttl);
    if (ttlMs < 1000) throw new BulwarkError('BAD_REQUEST', '--ttl must be at least 1s');
    const labels = parseLabels(flags.label);
    const client = await clientFrom(flags);
    const created = await client.createJoinToken({
      ttlSeconds: Math.round(ttlMs / 1000),
      uses,
      labels,
      ...(flags.description ? { description: flags.description } : {}),
    });
    if (flags.json) return printJson(created);
    process.stdout.write(
      [
        `Join token ${created.id}: ${created.usesAllowed} use(s), expires ${isoTime(created.expiresAt)} (in ${formatDuration(ttlMs)}), labels ${formatLabels(created.labels)}`,
        '',
        `  ${created.token}`,
        '',
        'On the machine to enroll, run:',
        '',
        `  ${created.joinCommand}`,
        '',
      ].join('\n'),
    );
  });

  const createApi = addClientFlags(group.command('create-api').description('create an API token for automation (shown once)'))
    .requiredOption('--role <role>', 'role the token acts with (one you hold)')
    .option('--name <name>', 'what the token is for', 'automation')
    .option('--ttl <duration>', 'lifetime, e.g. 30d (default: no expiry)')
    .option('--json', 'print JSON');
  createApi.addHelpText('after', '\nExamples:\n  $ bulwark token create-api --role auditor --ttl 30d --name siem-export');
  createApi.action(async (flags: ClientFlags & { role: string; name: string; ttl?: string; json?: boolean }) => {
    const ttlMs = flags.ttl === undefined ? undefined : parseDuration(flags.ttl);
    const created = await (await clientFrom(flags)).createApiToken({ name: flags.name, role: flags.role, ...(ttlMs ? { ttlSeconds: Math.round(ttlMs / 1000) } : {}) });
    if (flags.json) return printJson(created);
    process.stdout.write(`API token ${created.id} (${created.name}, role ${created.role}${created.expiresAt ? `, expires ${isoTime(created.expiresAt)}` : ''}):\n\n  ${created.token}\n\nIt is shown once; use it as BULWARK_TOKEN or --token.\n`);
  });

  const ls = addClientFlags(group.command('ls').description('list join tokens and API tokens'))
    .option('--all', 'include used-up, expired and revoked tokens')
    .option('--json', 'print JSON');
  ls.addHelpText('after', '\nExamples:\n  $ bulwark token ls\n  $ bulwark token ls --all --json');
  ls.action(async (flags: ClientFlags & { all?: boolean; json?: boolean }) => {
    const client = await clientFrom(flags);
    const { tokens: join } = await client.listJoinTokens(flags.all === true);
    const { tokens: api } = await client.listApiTokens();
    const now = Date.now();
    const liveApi = api.filter((t) => flags.all === true || (t.revokedAt === null && (t.expiresAt === null || t.expiresAt > now)));
    if (flags.json) return printJson({ joinTokens: join, apiTokens: liveApi });
    printTable(
      { id: 'ID', kind: 'KIND', what: 'ROLE / LABELS', uses: 'USES', expires: 'EXPIRES', state: 'STATE' },
      [
        ...join.map((t) => ({
          id: t.id,
          kind: 'join',
          what: formatLabels(t.labels),
          uses: `${t.usesCount}/${t.usesAllowed}`,
          expires: isoTime(t.expiresAt),
          state: t.revokedAt !== null ? 'revoked' : t.expiresAt <= now ? 'expired' : t.usesCount >= t.usesAllowed ? 'used' : 'active',
        })),
        ...liveApi.map((t) => ({
          id: t.id,
          kind: `api (${t.name})`,
          what: t.role,
          uses: '-',
          expires: t.expiresAt === null ? 'never' : isoTime(t.expiresAt),
          state: t.revokedAt !== null ? 'revoked' : t.expiresAt !== null && t.expiresAt <= now ? 'expired' : 'active',
        })),
      ],
    );
  });

  const revoke = addClientFlags(group.command('revoke').argument('<id>', 'token id (join or API)').description('revoke a join token or an API token'));
  revoke.addHelpText('after', '\nExamples:\n  $ bulwark token revoke k2j4…');
  revoke.action(async (id: string, flags: ClientFlags) => {
    const client = await clientFrom(flags);
    const { tokens: api } = await client.listApiTokens();
    if (api.some((t) => t.id === id)) {
      await client.revokeApiToken(id);
      process.stdout.write(`API token ${id} revoked\n`);
    } else {
      await client.revokeJoinToken(id);
      process.stdout.write(`Join token ${id} revoked\n`);
    }
  });
}
