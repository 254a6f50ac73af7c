import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BulwarkError } from '../core/errors.js';
import { parsePolicySentence, parsePolicyTests, policySubjectKey, policyTestRequest, policyTestSubjects, runPolicyTests } from './policy-tests.js';
import type { PolicySubject } from './policy-tests.js';
import { parseRolesYaml } from './role-yaml.js';
import { BUILTIN_ROLES } from './roles.js';
import type { Role } from './roles.js';

const custom = parseRolesYaml(`
roles:
  - name: staging-exec
    allow:
      - resources: [nodes]
        verbs: [list, read, exec]
        nodes: env=staging
`);
const roles = new Map<string, Role>([...BUILTIN_ROLES, ...custom].map((r) => [r.name, r]));
const users: Record<string, string[]> = { alice: ['staging-exec'], bob: ['viewer'], carol: ['operator'], dave: ['auditor'] };

function resolve(subject: PolicySubject): Role[] {
  const names = subject.user !== undefined ? users[subject.user] : [subject.role ?? ''];
  if (!names) throw new BulwarkError('NOT_FOUND', `user "${subject.user}" does not exist`);
  return names.map((n) => {
    const role = roles.get(n);
    if (!role) throw new BulwarkError('NOT_FOUND', `role "${n}" does not exist`);
    return role;
  });
}

function badRequest(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof BulwarkError, String(err));
    assert.match(err.message, pattern);
    return true;
  });
}

test('sentences: "alice can exec on env=staging" is exec on a node labelled env=staging', () => {
  assert.deepEqual(parsePolicySentence('alice can exec on env=staging'), {
    name: 'alice can exec on env=staging',
    user: 'alice',
    verb: 'exec',
    resource: 'nodes',
    node: { labels: { env: 'staging' } },
    expect: 'allow',
  });
  assert.deepEqual(parsePolicySentence('bob cannot read secrets'), { name: 'bob cannot read secrets', user: 'bob', verb: 'read', resource: 'secrets', expect: 'deny' });
});

test('sentences: resources with labels, several labels, logins, roles as subjects', () => {
  const t = parsePolicySentence('  carol can read nodes on env=prod, tier=db  ');
  assert.equal(t.resource, 'nodes');
  assert.deepEqual(t.node, { labels: { env: 'prod', tier: 'db' } });
  const ssh = parsePolicySentence("role:operator can't sign ssh as root");
  assert.deepEqual(ssh, { name: "role:operator can't sign ssh as root", role: 'operator', verb: 'sign', resource: 'ssh', principal: 'root', expect: 'deny' });
  assert.equal(parsePolicySentence('user:role can list events').user, 'role');
  assert.equal(parsePolicySentence('alice CANNOT delete nodes').expect, 'deny');
  assert.equal(parsePolicySentence('alice can not delete nodes').expect, 'deny');
  assert.deepEqual(parsePolicySentence('alice can exec on env=staging as ubuntu').principal, 'ubuntu');
});

test('sentences: malformed ones and typos are errors, so a misspelt "cannot" never passes', () => {
  badRequest(() => parsePolicySentence('alice exec on env=staging'), /is not of the form/);
  badRequest(() => parsePolicySentence('bob cannot reed secrets'), /"reed" is not a verb of secrets \(verbs: list, read, write, delete, deliver\)/);
  badRequest(() => parsePolicySentence('bob cannot read secret'), /unknown resource "secret"/);
  badRequest(() => parsePolicySentence('bob cannot exec'), /names no resource/);
  badRequest(() => parsePolicySentence('bob can exec on'), /"on" needs a value/);
  badRequest(() => parsePolicySentence('bob can exec on env=a on env=b'), /unexpected "on"/);
  badRequest(() => parsePolicySentence('bob can exec on env'), /not of the form key=value/);
  badRequest(() => parsePolicySentence('group:x can list nodes'), /subject "group:x"/);
  badRequest(() => parsePolicySentence('role: can list nodes'), /subject "role:"/);
});

const FILE = `tests:
  - alice can exec on env=staging
  - alice cannot exec on env=prod
  - bob cannot read secrets
  - bob can list nodes
  - role:operator cannot sign ssh as root
  - carol can sign ssh as ubuntu
  - name: auditors verify the log
    role: auditor
    verb: verify
    resource: auditlog
    expect: allow
  - user: alice
    verb: delete
    resource: nodes
    node: { labels: { env: staging, version: 2 } }
    expect: deny
  - user: dave
    verb: read
    resource: secrets
    expect: deny
`;

test('a file mixes sentences and mappings; all pass against the roles they describe', () => {
  const tests = parsePolicyTests(FILE);
  assert.equal(tests.length, 9);
  assert.equal(tests[0]?.location, '2:5');
  assert.deepEqual(tests[6], { name: 'auditors verify the log', role: 'auditor', verb: 'verify', resource: 'auditlog', expect: 'allow', location: '8:5' });
  assert.deepEqual(tests[7]?.node, { labels: { env: 'staging', version: '2' } });
  assert.equal(tests[7]?.name, 'alice cannot delete nodes on env=staging,version=2');
  const results = runPolicyTests(tests, resolve);
  for (const r of results) assert.ok(r.passed, `${r.name}: ${r.message}`);
  assert.equal(results[0]?.decision.explanation, 'allowed by role staging-exec, allow rule 0 (nodes: list, read, exec on env=staging)');
  assert.equal(results[0]?.expected, 'allow');
  assert.equal(results[4]?.message, 'denied by role operator, deny rule 0 (ssh: sign as root)');
});

test('failures say what was expected and why it went the other way', () => {
  const tests = parsePolicyTests('- bob can exec on env=staging\n- carol cannot list nodes\n');
  const [first, second] = runPolicyTests(tests, resolve);
  assert.equal(first?.passed, false);
  assert.equal(first?.expected, 'allow');
  assert.equal(first?.message, 'expected allow, got deny: no rule of roles [viewer] allows exec on nodes for a node labelled env=staging');
  assert.equal(second?.passed, false);
  assert.match(second?.message ?? '', /^expected deny, got allow: allowed by role operator, allow rule 0/);
});

test('an unknown subject fails its test instead of passing every "cannot"', () => {
  const [result] = runPolicyTests(parsePolicyTests('- mallory cannot delete nodes\n'), resolve);
  assert.equal(result?.passed, false);
  assert.equal(result?.decision.allowed, false);
  assert.equal(result?.message, 'mallory could not be resolved: user "mallory" does not exist');
});

test('subjects can be collected for loading roles up front', () => {
  const tests = parsePolicyTests(FILE);
  assert.deepEqual(policyTestSubjects(tests), [{ user: 'alice' }, { user: 'bob' }, { role: 'operator' }, { user: 'carol' }, { role: 'auditor' }, { user: 'dave' }]);
  assert.equal(policySubjectKey({ role: 'auditor' }), 'role:auditor');
  assert.deepEqual(policyTestRequest(tests[5] ?? assert.fail()), { resource: 'ssh', verb: 'sign', principal: 'ubuntu' });
});

test('file errors name the line and the test', () => {
  badRequest(() => parsePolicyTests('tests:\n  - alice can exec on env=staging\n  - bob cannot reed secrets\n'), /^policy test file: line 3:5: test 2: "reed" is not a verb of secrets/);
  badRequest(() => parsePolicyTests('tests:\n  - user: a\n    role: b\n    verb: list\n    resource: nodes\n    expect: allow\n'), /line 2:5: test 1: give exactly one of "user" and "role"/);
  badRequest(() => parsePolicyTests('- user: a\n  verb: list\n  resource: nodes\n  expect: yes\n'), /line 1:3: test 1: expect: /);
  badRequest(() => parsePolicyTests('- user: a\n  verb: list\n  resource: nodes\n  expected: allow\n'), /unknown field "expected"/);
  badRequest(() => parsePolicyTests('- user: a\n  verb: exec\n  resource: nodes\n  node: { labels: { "bad key!": x } }\n  expect: deny\n'), /label key "bad key!" is invalid/);
  badRequest(() => parsePolicyTests('tests:\n  - a can list nodes\n  -  [\n'), /^policy test file: line \d+:\d+: /);
  badRequest(() => parsePolicyTests(''), /holds no tests/);
  badRequest(() => parsePolicyTests('tests: 3\n'), /expected "tests:" with a list/);
  badRequest(() => parsePolicyTests('tests: []\nroles: []\n'), /line 2:1: unknown top-level field "roles"/);
});
