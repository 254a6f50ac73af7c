import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { BulwarkError } from '../../core/errors.js';
import { parseLabels } from '../../core/labels.js';
import { clientFrom, type ClientFlags } from '../context.js';
import { printJson, printTable } from '../output.js';
import { addClientFlags } from './token.js';

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

async function readFileArg(path: string): Promise<string> {
  return readFile(path, 'utf8').catch(() => {
    throw new BulwarkError('BAD_REQUEST', `cannot read ${path}`);
  });
}

export function registerRoles(program: Command): void {
  const group = program.command('role').description('roles: what users and tokens may do, on which nodes');

  const apply = addClientFlags(group.command('apply').argument('<file>', 'YAML file with `roles:`').description('create or replace custom roles')).option('--json', 'print JSON');
  apply.addHelpText(
    'after',
    `
Examples:
  $ bulwark role apply roles.yaml

roles.yaml:
  roles:
    - name: staging-operator
      allow:
        - { resources: [nodes], verbs: [list, read, exec], nodes: "env=staging" }
        - { resources: [ssh], verbs: [sign], principals: [ubuntu] }
      deny:
        - { resources: [nodes], verbs: [exec], nodes: "role=db" }`,
  );
  apply.action(async (file: string, flags: ClientFlags & { json?: boolean }) => {
    const { roles } = await (await clientFrom(flags)).applyRoles(await readFileArg(file));
    if (flags.json) return printJson(roles);
    process.stdout.write(`Applied ${roles.length} role(s): ${roles.map((r) => r.name).join(', ')}\n`);
  });

  const ls = addClientFlags(group.command('ls').description('list roles')).option('--json', 'print JSON');
  ls.action(async (flags: ClientFlags & { json?: boolean }) => {
    const { roles } = await (await clientFrom(flags)).listRoles();
    if (flags.json) return printJson(roles);
    printTable(
      { name: 'NAME', kind: 'KIND', allow: 'ALLOW RULES', deny: 'DENY RULES', description: 'DESCRIPTION' },
      roles.map((r) => ({ name: r.name, kind: r.builtin ? 'built-in' : 'custom', allow: String(r.allow.length), deny: String(r.deny.length), description: r.description ?? '' })),
    );
  });

  const show = addClientFlags(group.command('show').argument('<name>', 'role name').description('show a role and its rules')).option('--json', 'print JSON');
  show.action(async (name: string, flags: ClientFlags & { json?: boolean }) => {
    const role = await (await clientFrom(flags)).getRole(name);
    if (flags.json) return printJson(role);
    process.stdout.write(`${role.name}${role.builtin ? ' (built-in)' : ''}${role.requireMfa ? ', requires MFA' : ''}\n${role.description ? `${role.description}\n` : ''}`);
    for (const [kind, rules] of [
      ['allow', role.allow],
      ['deny', role.deny],
    ] as const) {
      rules.forEach((r, i) => {
        process.stdout.write(
          `  ${kind} ${i}: ${r.verbs.join(',')} on ${r.resources.join(',')}${r.nodes ? ` where ${r.nodes}` : ''}${r.principals ? ` as ${r.principals.join(',')}` : ''}${r.paths ? ` at ${r.paths.join(',')}` : ''}\n`,
        );
      });
    }
  });

  const rm = addClientFlags(group.command('rm').argument('<name>', 'role name').description('remove a custom role'));
  rm.action(async (name: string, flags: ClientFlags) => {
    await (await clientFrom(flags)).removeRole(name);
    process.stdout.write(`Role ${name} removed\n`);
  });

  const access = program.command('access').description('explain and test access decisions');
  const check = addClientFlags(access.command('check').description('explain whether a user or role may do something, and which rule decides'))
    .option('--user <name>', 'a user')
    .option('--role <name>', 'a role')
    .requiredOption('--verb <verb>', 'e.g. exec, read, list, delete, sign')
    .option('--resource <resource>', 'e.g. nodes, ssh, auditlog', 'nodes')
    .option('--node <node>', 'a node (id or name): its labels are used')
    .option('--label <key=value>', 'labels of a hypothetical node (repeatable)', collect, [])
    .option('--principal <login>', 'SSH login, for --resource ssh')
    .option('--json', 'print JSON');
  check.addHelpText('after', '\nExamples:\n  $ bulwark access check --user alice --verb exec --node db-1\n  $ bulwark access check --role operator --verb sign --resource ssh --principal root');
  check.action(async (flags: ClientFlags & { user?: string; role?: string; verb: string; resource: string; node?: string; label: string[]; principal?: string; json?: boolean }) => {
    if ((flags.user === undefined) === (flags.role === undefined)) throw new BulwarkError('BAD_REQUEST', 'give exactly one of --user or --role');
    const decision = await (await clientFrom(flags)).accessCheck({
      ...(flags.user ? { user: flags.user } : {}),
      ...(flags.role ? { role: flags.role } : {}),
      verb: flags.verb,
      resource: flags.resource,
      ...(flags.node ? { node: flags.node } : {}),
      ...(flags.label.length ? { labels: parseLabels(flags.label) } : {}),
      ...(flags.principal ? { principal: flags.principal } : {}),
    });
    if (flags.json) printJson(decision);
    else process.stdout.write(`${decision.allowed ? 'ALLOWED' : 'DENIED'}: ${decision.explanation}\n`);
    // Scripts gate on the exit code: 0 allowed, 3 denied.
    if (!decision.allowed) process.exitCode = 3;
  });

  const test = addClientFlags(access.command('test').argument('<file>', 'YAML of assertions').description('run policy assertions against the current roles; exits non-zero if one fails')).option('--json', 'print JSON');
  test.addHelpText(
    'after',
    `
Examples:
  $ bulwark access test policy-tests.yaml

policy-tests.yaml:
  tests:
    - alice can exec on env=staging
    - bob cannot read secrets
    - { role: viewer, verb: delete, resource: nodes, node: { labels: { env: prod } }, expect: deny }`,
  );
  test.action(async (file: string, flags: ClientFlags & { json?: boolean }) => {
    const { results } = await (await clientFrom(flags)).accessTest(await readFileArg(file));
    if (flags.json) printJson(results);
    else for (const r of results) process.stdout.write(`${r.passed ? 'PASS' : 'FAIL'}  ${r.name}  (expected ${r.expected}; ${r.decision.explanation})\n`);
    const failed = results.filter((r) => !r.passed).length;
    if (!flags.json) process.stdout.write(`${results.length - failed} passed, ${failed} failed\n`);
    if (failed > 0) process.exitCode = 1;
  });
}
