import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BulwarkError } from '../core/errors.js';
import {
  BUILTIN_ROLE_NAMES,
  BUILTIN_ROLES,
  checkRoleShape,
  describeRolePath,
  findBuiltinRole,
  isBuiltinRoleName,
  isVerbOf,
  RESOURCE_VERBS,
  RESOURCES,
  validateRole,
  VERBS,
} from './roles.js';

function rejects(input: unknown, pattern: RegExp, path?: (string | number)[]): void {
  assert.throws(
    () => validateRole(input),
    (err: unknown) => {
      assert.ok(err instanceof BulwarkError, String(err));
      assert.equal(err.code, 'INVALID_ROLE');
      assert.match(err.message, pattern);
      if (path) assert.deepEqual(err.details?.['path'], path);
      return true;
    },
  );
}

test('the vocabulary is the one the API routes use', () => {
  assert.deepEqual(RESOURCES, ['cluster', 'nodes', 'join-tokens', 'api-tokens', 'events', 'users', 'roles', 'sessions', 'auditlog', 'ssh', 'secrets', 'audits', 'policies', 'vulndb', 'keyring', 'backups']);
  assert.deepEqual(RESOURCE_VERBS.backups, ['list', 'read', 'write', 'delete', 'run', 'restore', 'drill']);
  assert.deepEqual(RESOURCE_VERBS.nodes, ['list', 'read', 'update', 'delete', 'exec']);
  assert.deepEqual(RESOURCE_VERBS.auditlog, ['list', 'verify', 'export']);
  assert.ok(VERBS.includes('deliver'));
  assert.equal(new Set(VERBS).size, VERBS.length);
  assert.ok(isVerbOf('ssh', 'sign'));
  assert.ok(!isVerbOf('nodes', 'sign'));
  assert.ok(!isVerbOf('toString', 'list'), 'prototype keys are not resources');
});

test('the built-in roles pass validation and are frozen', () => {
  assert.deepEqual(BUILTIN_ROLE_NAMES, ['admin', 'operator', 'auditor', 'viewer']);
  for (const role of BUILTIN_ROLES) assert.deepEqual(checkRoleShape(structuredClone(role)), role);
  const admin = findBuiltinRole('admin');
  assert.equal(admin?.requireMfa, true);
  assert.ok(Object.isFrozen(admin));
  assert.ok(Object.isFrozen(admin?.allow[0]?.verbs));
  assert.throws(() => (admin?.allow[0]?.verbs as string[]).push('x'));
  assert.equal(findBuiltinRole('nobody'), undefined);
  assert.ok(isBuiltinRoleName('viewer'));
  assert.ok(!isBuiltinRoleName('viewers'));
});

test('a valid custom role comes back normalised', () => {
  const role = validateRole({
    name: 'staging-ops',
    description: 'staging only',
    allow: [
      { resources: ['nodes'], verbs: ['list', 'read', 'exec'], nodes: '  env=staging, tier in (web, db)  ' },
      { resources: ['ssh'], verbs: ['sign'], principals: ['ubuntu', 'deploy'] },
    ],
    deny: [{ resources: ['nodes'], verbs: ['exec'], nodes: '!exec-ok' }],
  });
  assert.deepEqual(role, {
    name: 'staging-ops',
    description: 'staging only',
    allow: [
      { resources: ['nodes'], verbs: ['list', 'read', 'exec'], nodes: 'env=staging, tier in (web, db)' },
      { resources: ['ssh'], verbs: ['sign'], principals: ['ubuntu', 'deploy'] },
    ],
    deny: [{ resources: ['nodes'], verbs: ['exec'], nodes: '!exec-ok' }],
  });
});

test('allow and deny may be left empty or out', () => {
  assert.deepEqual(validateRole({ name: 'nothing' }), { name: 'nothing', allow: [], deny: [] });
  assert.deepEqual(validateRole({ name: 'deny-only', allow: null, deny: [{ resources: ['*'], verbs: ['delete'] }] }).deny.length, 1);
  assert.equal(validateRole({ name: 'mfa', requireMfa: true }).requireMfa, true);
});

test('built-in names cannot be redefined', () => {
  for (const name of BUILTIN_ROLE_NAMES) rejects({ name, allow: [] }, new RegExp(`"${name}" is a built-in role`), ['name']);
});

test('unknown resources and verbs are errors naming the role and the rule', () => {
  rejects({ name: 'dev', allow: [{ resources: ['node'], verbs: ['list'] }] }, /^role "dev", allow rule 0, resources\[0\]: unknown resource "node"/, ['allow', 0, 'resources', 0]);
  rejects(
    { name: 'dev', allow: [{ resources: ['nodes'], verbs: ['list'] }, { resources: ['nodes'], verbs: ['read', 'exce'] }] },
    /^role "dev", allow rule 1, verbs\[1\]: unknown verb "exce"/,
    ['allow', 1, 'verbs', 1],
  );
  rejects({ name: 'dev', deny: [{ resources: ['nodes'], verbs: ['sign'] }] }, /deny rule 0, verbs\[0\]: verb "sign" applies to none of the rule's resources \(nodes: list, read, update, delete, exec\)/);
  // A verb fits when it belongs to one of the listed resources, or to any under "*".
  validateRole({ name: 'mixed', allow: [{ resources: ['nodes', 'auditlog'], verbs: ['exec', 'verify'] }] });
  validateRole({ name: 'star', allow: [{ resources: ['*'], verbs: ['verify'] }] });
  validateRole({ name: 'star-verbs', allow: [{ resources: ['events'], verbs: ['*'] }] });
});

test('the shape is checked strictly, so typos in field names are caught', () => {
  rejects({ name: 'dev', allows: [] }, /^role "dev": unknown field "allows"/, ['allows']);
  rejects({ name: 'dev', allow: [{ resources: ['nodes'], verbs: ['list'], node: 'env=dev' }] }, /allow rule 0: unknown field "node"/, ['allow', 0, 'node']);
  rejects({ name: 'dev', allow: [{ resources: ['nodes'] }] }, /allow rule 0, verbs: is required/);
  rejects({ name: 'dev', allow: [{ resources: ['nodes'], verb: ['list'] }] }, /allow rule 0: unknown field "verb"/);
  rejects({ name: 'dev', allow: [{ resources: [], verbs: ['list'] }] }, /at least one resource/);
  rejects({ name: 'dev', allow: [{ resources: 'nodes', verbs: ['list'] }] }, /resources: .*expected array/);
  rejects({ allow: [] }, /^role, name: is required/);
  rejects('admin', /^role: a role is a mapping/);
  rejects(null, /^role: a role is a mapping/);
  rejects({ name: 'dev', requireMfa: 'yes' }, /requireMfa/);
  rejects({ name: 'dev', description: 'x'.repeat(1025) }, /description: at most 1024/);
});

test('role names are restricted', () => {
  for (const name of ['', 'Dev', 'dev ops', '-dev', 'dev-', 'a'.repeat(64), 'dév']) {
    rejects({ name }, /a role name is 1–63 lower-case letters/);
  }
  for (const name of ['d', 'dev', 'dev-ops', 'team.a_b', 'a'.repeat(63)]) validateRole({ name });
});

test('node selectors are parsed, and only allowed where a request can be about a node', () => {
  rejects({ name: 'dev', allow: [{ resources: ['nodes'], verbs: ['list'], nodes: 'env in (a' }] }, /allow rule 0, nodes: selector "env in \(a" is invalid at position/, ['allow', 0, 'nodes']);
  rejects({ name: 'dev', allow: [{ resources: ['nodes'], verbs: ['list'], nodes: '  ' }] }, /node selector is empty: leave "nodes" out/);
  rejects({ name: 'dev', allow: [{ resources: ['join-tokens'], verbs: ['create'], nodes: 'env=dev' }] }, /only applies to nodes and secrets/);
  validateRole({ name: 'dev', allow: [{ resources: ['*'], verbs: ['list'], nodes: 'env=dev' }] });
  validateRole({ name: 'dev', allow: [{ resources: ['secrets'], verbs: ['deliver'], nodes: 'env in (dev, test), !pci' }] });
});

test('principals belong to ssh sign rules, and an ssh allow rule must list them', () => {
  rejects({ name: 'dev', allow: [{ resources: ['nodes'], verbs: ['exec'], principals: ['root'] }] }, /principals only apply to rules that cover "sign" on "ssh"/);
  rejects({ name: 'dev', allow: [{ resources: ['ssh'], verbs: ['sign'] }] }, /must list the logins it grants in principals/, ['allow', 0, 'principals']);
  rejects({ name: 'dev', allow: [{ resources: ['ssh'], verbs: ['*'] }] }, /must list the logins/);
  rejects({ name: 'dev', allow: [{ resources: ['ssh'], verbs: ['sign'], principals: [] }] }, /at least one principal/);
  rejects({ name: 'dev', allow: [{ resources: ['ssh'], verbs: ['sign'], principals: ['ubuntu,root'] }] }, /principal "ubuntu,root" is not a valid login/, ['allow', 0, 'principals', 0]);
  rejects({ name: 'dev', allow: [{ resources: ['ssh'], verbs: ['sign'], principals: ['a b'] }] }, /not a valid login/);
  // A deny rule without principals refuses every login: that is meaningful.
  validateRole({ name: 'no-ssh', deny: [{ resources: ['ssh'], verbs: ['sign'] }] });
  validateRole({ name: 'ssh', allow: [{ resources: ['ssh'], verbs: ['sign'], principals: ['*'] }], deny: [{ resources: ['ssh'], verbs: ['sign'], principals: ['root', 'admin@corp'] }] });
  validateRole({ name: 'all', allow: [{ resources: ['*'], verbs: ['*'], principals: ['ubuntu'] }] });
});

test('validation returns copies, not the caller\'s arrays', () => {
  const input = { name: 'dev', allow: [{ resources: ['nodes'], verbs: ['list'] }] };
  const role = validateRole(input);
  input.allow[0]?.verbs.push('exec');
  assert.deepEqual(role.allow[0]?.verbs, ['list']);
});

test('role paths read as words', () => {
  assert.equal(describeRolePath(['allow', 1, 'verbs', 0]), 'allow rule 1, verbs[0]');
  assert.equal(describeRolePath(['deny', 0]), 'deny rule 0');
  assert.equal(describeRolePath(['name']), 'name');
  assert.equal(describeRolePath([]), '');
});

test('backups: node-scoped verbs, and only its own', () => {
  const role = validateRole({ name: 'db-restorer', allow: [{ resources: ['backups'], verbs: ['list', 'restore', 'drill'], nodes: 'role=db' }] });
  assert.equal(role.allow[0]?.nodes, 'role=db');
  assert.ok(isVerbOf('backups', 'run'));
  assert.ok(!isVerbOf('backups', 'exec'));
  rejects({ name: 'x', allow: [{ resources: ['backups'], verbs: ['exec'] }] }, /verb "exec" applies to none of the rule's resources \(backups: list, read, write, delete, run, restore, drill\)/);
});
