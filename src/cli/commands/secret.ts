import { readFile, stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { BulwarkError } from '../../core/errors.js';
import { writeFileAtomic } from '../../core/fs.js';
import { SecretsClient } from '../../client/secrets-client.js';
import { SECRET_LIMITS } from '../../protocol/secrets.js';
import { checkSecretPath } from '../../secrets/path.js';
import { checkSecretValue } from '../../secrets/value.js';
import { clientFrom, type ClientFlags } from '../context.js';
import { isoTime, printJson, printTable } from '../output.js';
import { promptHidden } from '../prompt.js';
import { registerSecretDeliveryCommands } from './secret-deliver.js';
import { addClientFlags } from './token.js';

async function secretsClientFrom(flags: ClientFlags): Promise<SecretsClient> {
  return new SecretsClient(await clientFrom(flags));
}

/** A version or count flag: a whole number from 1 up. */
function positiveInt(flag: string, text: string | undefined, max = 2 ** 31 - 1): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < 1 || n > max) {
    throw new BulwarkError('BAD_REQUEST', `${flag} must be a whole number from 1 to ${max}, not ${JSON.stringify(text)}`);
  }
  return n;
}

const tooLarge = (): BulwarkError =>
  new BulwarkError('PAYLOAD_TOO_LARGE', `the secret value is larger than ${SECRET_LIMITS.maxValueBytes} bytes (64 KiB), the most a secret holds`);

/** All of stdin as bytes, exactly as sent (binary-safe, no newline removed), refusing more than a secret can hold. */
async function readStdinBytes(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    size += (chunk as Buffer).length;
    if (size > SECRET_LIMITS.maxValueBytes) throw tooLarge();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

async function readValueFile(file: string): Promise<Buffer> {
  const info = await stat(file).catch(() => {
    throw new BulwarkError('BAD_REQUEST', `cannot read ${file}: no such file, or not allowed`);
  });
  if (!info.isFile()) throw new BulwarkError('BAD_REQUEST', `${file} is not a regular file`);
  if (info.size > SECRET_LIMITS.maxValueBytes) throw tooLarge();
  return readFile(file).catch(() => {
    throw new BulwarkError('BAD_REQUEST', `cannot read ${file}`);
  });
}

interface PutFlags extends ClientFlags {
  file?: string;
  value?: string;
  maxVersions?: string;
  json?: boolean;
}

/**
 * Where the value comes from: exactly one of `-` (stdin; asked for without echo
 * on a terminal), `--file` or `--value`. An unexpected second argument is never
 * echoed: it may well be the value itself, typed in the wrong place.
 */
async function valueFrom(path: string, source: string | undefined, flags: PutFlags): Promise<Buffer> {
  if (source !== undefined && source !== '-') {
    throw new BulwarkError('BAD_REQUEST', 'the second argument can only be "-" (read the value from stdin); give a value with --file FILE, or --value VALUE');
  }
  const given = [source === '-', flags.file !== undefined, flags.value !== undefined].filter(Boolean).length;
  if (given === 0) throw new BulwarkError('BAD_REQUEST', `give the value of ${path}: "-" to read it from stdin, --file FILE, or --value VALUE`);
  if (given > 1) throw new BulwarkError('BAD_REQUEST', 'give the value one way only: "-" (stdin), --file or --value');
  if (flags.file !== undefined) return readValueFile(flags.file);
  if (flags.value !== undefined) {
    if (process.stderr.isTTY) process.stderr.write('note: a value given with --value shows in the process list and your shell history; prefer "-" or --file\n');
    return Buffer.from(flags.value, 'utf8');
  }
  if (process.stdin.isTTY) return Buffer.from(await promptHidden(`Value of ${path}: `), 'utf8');
  return readStdinBytes();
}

async function writeStdout(value: Uint8Array): Promise<void> {
  await new Promise<void>((resolve, reject) => process.stdout.write(value, (err) => (err ? reject(err) : resolve())));
}

export function registerSecret(program: Command): void {
  const group = program.command('secret').description('the versioned secrets store: values encrypted by the keyring, every version kept');
  group.addHelpText(
    'after',
    `
Paths are segments of letters, digits, ".", "_" and "-" joined by "/" (app/db-password).
Values are bytes (up to 64 KiB) and are never logged or written to the audit log.

Examples:
  $ printf '%s' "$DB_PASSWORD" | bulwark secret put app/db-password -
  $ bulwark secret get app/db-password
  $ bulwark secret ls app/
  $ bulwark secret versions app/db-password
  $ bulwark secret rollback app/db-password --version 2`,
  );

  const put = addClientFlags(
    group
      .command('put')
      .argument('<path>', 'secret path, e.g. app/db-password')
      .argument('[source]', '"-" to read the value from stdin (asked for without echo on a terminal)')
      .description('store a new version of a secret (creating it)'),
  )
    .option('--file <file>', 'read the value from this file, byte for byte')
    .option('--value <value>', 'the value itself (visible in the process list and shell history: prefer "-" or --file)')
    .option('--max-versions <n>', `how many versions to keep from now on (1–${SECRET_LIMITS.maxMaxVersions}; default ${SECRET_LIMITS.defaultMaxVersions}); older ones are destroyed`)
    .option('--json', 'print JSON');
  put.addHelpText(
    'after',
    `
Stdin is stored exactly as sent: \`echo\` adds a newline, \`printf '%s'\` does not.

Examples:
  $ printf '%s' 'hunter2' | bulwark secret put app/db-password -
  $ bulwark secret put app/db-password -                 # asks for the value without echoing it
  $ bulwark secret put tls/web.key --file web.key --max-versions 3`,
  );
  put.action(async (path: string, source: string | undefined, flags: PutFlags) => {
    checkSecretPath(path);
    const maxVersions = positiveInt('--max-versions', flags.maxVersions, SECRET_LIMITS.maxMaxVersions);
    const value = await valueFrom(path, source, flags);
    try {
      checkSecretValue(value);
      const written = await (await secretsClientFrom(flags)).put(path, value, maxVersions === undefined ? {} : { maxVersions });
      if (flags.json) return printJson(written);
      const removed = written.removedVersions.length === 0 ? '' : ` (removed version${written.removedVersions.length > 1 ? 's' : ''} ${written.removedVersions.join(', ')}: it keeps ${written.maxVersions})`;
      process.stdout.write(`Stored ${path} version ${written.version}${removed}\n`);
    } finally {
      value.fill(0);
    }
  });

  const get = addClientFlags(group.command('get').argument('<path>', 'secret path').description('print the value of a secret (raw bytes, nothing added)'))
    .option('--version <n>', 'a version other than the current one')
    .option('--newline', 'end the output with a newline')
    .option('-o, --output <file>', 'write the value to this file (mode 0600) instead of stdout')
    .option('--json', 'print JSON with the value in base64 and its metadata');
  get.addHelpText(
    'after',
    `
Examples:
  $ bulwark secret get app/db-password
  $ PGPASSWORD="$(bulwark secret get app/db-password)" psql …
  $ bulwark secret get tls/web.key --version 2 -o web.key
  $ bulwark secret get app/db-password --json | jq -r .value | base64 -d`,
  );
  get.action(async (path: string, flags: ClientFlags & { version?: string; newline?: boolean; output?: string; json?: boolean }) => {
    checkSecretPath(path);
    const version = positiveInt('--version', flags.version);
    const found = await (await secretsClientFrom(flags)).get(path, version);
    try {
      if (flags.json) return printJson({ path: found.path, version: found.version, value: found.value.toString('base64'), createdBy: found.createdBy, createdAt: found.createdAt });
      const out = flags.newline ? Buffer.concat([found.value, Buffer.from('\n')]) : found.value;
      if (flags.output !== undefined) await writeFileAtomic(flags.output, out, 0o600);
      else await writeStdout(out);
      if (out !== found.value) out.fill(0);
    } finally {
      found.value.fill(0);
    }
  });

  const ls = addClientFlags(group.command('ls').argument('[prefix]', 'only paths starting with this text, e.g. app/').description('list the secrets you may list (never their values)')).option(
    '--json',
    'print JSON',
  );
  ls.addHelpText('after', '\nExamples:\n  $ bulwark secret ls\n  $ bulwark secret ls app/ --json');
  ls.action(async (prefix: string | undefined, flags: ClientFlags & { json?: boolean }) => {
    const { secrets } = await (await secretsClientFrom(flags)).list(prefix);
    if (flags.json) return printJson(secrets);
    if (secrets.length === 0) {
      process.stderr.write(prefix ? `No secrets under "${prefix}" that you may list.\n` : 'No secrets that you may list.\n');
      return;
    }
    printTable(
      { path: 'PATH', version: 'VERSION', state: 'STATE', keeps: 'KEEPS', updated: 'UPDATED' },
      secrets.map((s) => ({ path: s.path, version: String(s.currentVersion), state: s.state, keeps: String(s.maxVersions), updated: isoTime(s.updatedAt) })),
    );
  });

  const versions = addClientFlags(group.command('versions').argument('<path>', 'secret path').description('list the versions a secret keeps, with who wrote them and when')).option(
    '--json',
    'print JSON',
  );
  versions.addHelpText('after', '\nExamples:\n  $ bulwark secret versions app/db-password\n  $ bulwark secret versions app/db-password --json');
  versions.action(async (path: string, flags: ClientFlags & { json?: boolean }) => {
    checkSecretPath(path);
    const listed = await (await secretsClientFrom(flags)).versions(path);
    if (flags.json) return printJson(listed);
    printTable(
      { version: 'VERSION', state: 'STATE', created: 'CREATED', by: 'BY', deleted: 'DELETED', destroyed: 'DESTROYED' },
      listed.versions.map((v) => ({
        version: `${v.version}${v.version === listed.secret.currentVersion ? ' (current)' : ''}`,
        state: v.state,
        created: isoTime(v.createdAt),
        by: v.createdBy,
        deleted: isoTime(v.deletedAt),
        destroyed: isoTime(v.destroyedAt),
      })),
    );
  });

  const rollback = addClientFlags(
    group.command('rollback').argument('<path>', 'secret path').description("write an earlier version's value as a new current version (also undeletes)"),
  )
    .requiredOption('--version <n>', 'the version whose value becomes current again')
    .option('--json', 'print JSON');
  rollback.addHelpText('after', '\nExamples:\n  $ bulwark secret rollback app/db-password --version 2\n  $ bulwark secret rm app/db-password && bulwark secret rollback app/db-password --version 3   # undo a delete');
  rollback.action(async (path: string, flags: ClientFlags & { version: string; json?: boolean }) => {
    checkSecretPath(path);
    const version = positiveInt('--version', flags.version) ?? 0;
    const written = await (await secretsClientFrom(flags)).rollback(path, version);
    if (flags.json) return printJson(written);
    process.stdout.write(`Rolled ${path} back to the value of version ${version}: it is now version ${written.version}\n`);
  });

  const rm = addClientFlags(
    group.command('rm').argument('<path>', 'secret path').description('delete the current version (or --version N) so it no longer reads; --destroy erases its value for good'),
  )
    .option('--version <n>', 'a version other than the current one')
    .option('--destroy', 'erase the stored value permanently (cannot be undone)')
    .option('--json', 'print JSON');
  rm.addHelpText(
    'after',
    `
A deleted version stays listed by \`secret versions\` and comes back with \`secret rollback\`.
A destroyed one is gone for good.

Examples:
  $ bulwark secret rm app/db-password
  $ bulwark secret rm app/db-password --version 2 --destroy`,
  );
  rm.action(async (path: string, flags: ClientFlags & { version?: string; destroy?: boolean; json?: boolean }) => {
    checkSecretPath(path);
    const version = positiveInt('--version', flags.version);
    const removed = await (await secretsClientFrom(flags)).remove(path, { ...(version === undefined ? {} : { version }), destroy: flags.destroy === true });
    if (flags.json) return printJson(removed);
    const v = removed.version.version;
    if (flags.destroy) {
      process.stdout.write(removed.changed ? `Destroyed version ${v} of ${path}: its value is gone for good\n` : `Version ${v} of ${path} was already destroyed\n`);
    } else if (!removed.changed) {
      process.stdout.write(`Version ${v} of ${path} was already ${removed.version.state}\n`);
    } else {
      process.stdout.write(`Deleted version ${v} of ${path}; bring it back with \`bulwark secret rollback ${path} --version ${v}\`\n`);
    }
  });

  registerSecretDeliveryCommands(group);
}
