import type { Command } from 'commander';
import { BulwarkError } from '../../core/errors.js';
import { clientFrom, type ClientFlags } from '../context.js';
import { ago, isoTime, printJson, printTable } from '../output.js';
import { promptHidden, readStdin } from '../prompt.js';
import { addClientFlags } from './token.js';

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export function registerUsers(program: Command): void {
  const group = program.command('user').description('people who use Bulwark');

  const add = addClientFlags(group.command('add').argument('<name>', 'user name').description('add a user; prints a generated password unless one is given'))
    .requiredOption('--role <role>', 'role to grant (repeatable)', collect)
    .option('--password-stdin', 'read the password from standard input')
    .option('--json', 'print JSON');
  add.addHelpText('after', '\nExamples:\n  $ bulwark user add alice --role operator\n  $ bulwark user add bob --role auditor --role viewer');
  add.action(async (name: string, flags: ClientFlags & { role: string[]; passwordStdin?: boolean; json?: boolean }) => {
    const password = flags.passwordStdin ? await readStdin() : undefined;
    const created = await (await clientFrom(flags)).createUser({ name, roles: flags.role, ...(password !== undefined ? { password } : {}) });
    if (flags.json) return printJson(created);
    process.stdout.write(`User ${created.name} added with roles ${created.roles.join(', ')}\n`);
    if (created.password) process.stdout.write(`Initial password (shown once): ${created.password}\n`);
  });

  const ls = addClientFlags(group.command('ls').description('list users')).option('--json', 'print JSON');
  ls.action(async (flags: ClientFlags & { json?: boolean }) => {
    const { users } = await (await clientFrom(flags)).listUsers();
    if (flags.json) return printJson(users);
    printTable(
      { name: 'NAME', roles: 'ROLES', mfa: 'MFA', state: 'STATE', login: 'LAST LOGIN' },
      users.map((u) => ({ name: u.name, roles: u.roles.join(','), mfa: u.mfaEnrolled ? 'yes' : 'no', state: u.locked ? 'locked' : 'active', login: ago(u.lastLoginAt) })),
    );
  });

  const show = addClientFlags(group.command('show').argument('<name>', 'user name').description('show a user')).option('--json', 'print JSON');
  show.action(async (name: string, flags: ClientFlags & { json?: boolean }) => {
    const u = await (await clientFrom(flags)).getUser(name);
    if (flags.json) return printJson(u);
    process.stdout.write(`name        ${u.name}\nroles       ${u.roles.join(', ')}\nmfa         ${u.mfaEnrolled ? 'enrolled' : 'not enrolled'}\nstate       ${u.locked ? 'locked' : 'active'}\ncreated     ${isoTime(u.createdAt)}\nlast login  ${isoTime(u.lastLoginAt)}\nfailed      ${u.failedLogins}\n`);
  });

  const rm = addClientFlags(group.command('rm').argument('<name>', 'user name').description('remove a user and end their sessions'));
  rm.action(async (name: string, flags: ClientFlags) => {
    await (await clientFrom(flags)).removeUser(name);
    process.stdout.write(`User ${name} removed\n`);
  });

  for (const [cmd, locked] of [
    ['lock', true],
    ['unlock', false],
  ] as const) {
    const c = addClientFlags(group.command(cmd).argument('<name>', 'user name').description(locked ? 'lock a user out and end their sessions' : 'let a locked user log in again'));
    c.action(async (name: string, flags: ClientFlags) => {
      await (await clientFrom(flags)).setUserLocked(name, locked);
      process.stdout.write(`User ${name} ${locked ? 'locked' : 'unlocked'}\n`);
    });
  }

  const roles = addClientFlags(group.command('set-roles').argument('<name>', 'user name').description('replace the roles of a user')).requiredOption('--role <role>', 'role (repeatable)', collect);
  roles.action(async (name: string, flags: ClientFlags & { role: string[] }) => {
    const u = await (await clientFrom(flags)).setUserRoles(name, flags.role);
    process.stdout.write(`User ${u.name} now has roles ${u.roles.join(', ')}\n`);
  });

  const passwd = addClientFlags(group.command('passwd').argument('<name>', 'user name').description('set a new password (ends the user’s sessions)')).option('--password-stdin', 'read it from standard input');
  passwd.action(async (name: string, flags: ClientFlags & { passwordStdin?: boolean }) => {
    const password = flags.passwordStdin ? await readStdin() : await promptHidden(`New password for ${name}: `);
    if (!flags.passwordStdin && (await promptHidden('Again: ')) !== password) throw new BulwarkError('BAD_REQUEST', 'the two passwords differ');
    await (await clientFrom(flags)).setUserPassword(name, password);
    process.stdout.write(`Password of ${name} changed\n`);
  });
}
