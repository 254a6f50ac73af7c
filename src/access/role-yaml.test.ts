import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BulwarkError } from '../core/errors.js';
import { parseRolesYaml } from './role-yaml.js';

function fails(text: string, pattern: RegExp): void {
  assert.throws(
    () => parseRolesYaml(text),
    (err: unknown) => {
      assert.ok(err instanceof BulwarkError, String(err));
      assert.equal(err.code, 'INVALID_ROLE');
      assert.match(err.message, pattern);
      return true;
    },
  );
}

const ROLES = `# staging people
roles:
  - name: staging-operator
    description: Runs staging
    allow:
      - resources: [nodes]
        verbs: [list, read, exec]
        nodes: "env=staging, tier in (web, db)"
      - resources: [ssh]
        verbs: [sign]
        principals: [ubuntu]
    deny:
      - resources: [nodes]
        verbs: [exec]
        nodes: "!exec-allowed"
  - name: secrets-reader
    allow:
      - { resources: [secrets], verbs: [list, read] }
`;

test('a roles file with a "roles" list parses into validated roles', () => {
  const roles = parseRolesYaml(ROLES);
  assert.deepEqual(
    roles.map((r) => r.name),
    ['staging-operator', 'secrets-reader'],
  );
  assert.deepEqual(roles[0], {
    name: 'staging-operator',
    description: 'Runs staging',
    allow: [
      { resources: ['nodes'], verbs: ['list', 'read', 'exec'], nodes: 'env=staging, tier in (web, db)' },
      { resources: ['ssh'], verbs: ['sign'], principals: ['ubuntu'] },
    ],
    deny: [{ resources: ['nodes'], verbs: ['exec'], nodes: '!exec-allowed' }],
  });
  assert.deepEqual(roles[1]?.deny, []);
});

test('a top-level list, a single role, and several documents are accepted too', () => {
  assert.deepEqual(
    parseRolesYaml('- name: a\n  allow: [{resources: [events], verbs: [list]}]\n- name: b\n').map((r) => r.name),
    ['a', 'b'],
  );
  assert.deepEqual(parseRolesYaml('name: solo\nallow:\n  - resources: [cluster]\n    verbs: [read]\n')[0]?.allow, [{ resources: ['cluster'], verbs: ['read'] }]);
  assert.deepEqual(
    parseRolesYaml('name: one\n---\nroles:\n  - name: two\n---\n- name: three\n').map((r) => r.name),
    ['one', 'two', 'three'],
  );
});

test('YAML syntax errors carry line:column', () => {
  fails('roles:\n  - name: a\n    allow: [\n', /^roles file: line \d+:\d+: /);
  fails('roles:\n  - name: a\n  allow: []\n', /^roles file: line 3:\d+: /);
  fails('roles:\n\t- name: a\n', /^roles file: line 2:1: .*[Tt]ab/);
  fails('roles:\n  - name: "unterminated\n', /^roles file: line \d+:\d+: /);
  fails('roles:\n  - name: a\n    name: b\n', /^roles file: line 3:5: .*[Uu]nique|^roles file: line 3:5: .*duplicate/i);
});

test('validation errors point at the offending line and column', () => {
  const text = `roles:
  - name: ok
  - name: dev
    allow:
      - resources: [nodes]
        verbs: [list, exce]
`;
  fails(text, /^line 6:23: role "dev", allow rule 0, verbs\[1\]: unknown verb "exce"/);
  fails('roles:\n  - name: dev\n    allow:\n      - resources: [nodes]\n        verbs: [list]\n        nodes: "env in ("\n', /^line 6:9: role "dev", allow rule 0, nodes: selector "env in \(" is invalid/);
  fails('roles:\n  - name: dev\n    alow: []\n', /^line 3:5: role "dev": unknown field "alow"/);
  fails('- name: admin\n', /^line 1:3: role "admin", name: "admin" is a built-in role/);
  fails('roles:\n  - name: dev\n    allow:\n      - resources: [nodes]\n', /^line 4:9: role "dev", allow rule 0, verbs: is required/);
});

test('duplicate role names are rejected, naming both lines', () => {
  fails('roles:\n  - name: dev\n  - name: ops\n  - name: dev\n', /^line 4:5: role "dev" is defined twice \(first at line 2:5\)/);
  fails('name: dev\n---\nname: dev\n', /role "dev" is defined twice/);
});

test('files with no roles or the wrong shape are refused clearly', () => {
  fails('', /defines no roles/);
  fails('# nothing\n', /defines no roles/);
  fails('roles:\n', /defines no roles/);
  fails('roles: dev\n', /^line 1:1: "roles" must be a list/);
  fails('roles: []\nversion: 2\n', /^line 2:1: unknown top-level field "version"/);
  fails('just a string\n', /expected "roles:" with a list of roles/);
  fails('- 42\n', /^line 1:3: role: a role is a mapping/);
});

test('alias bombs are refused rather than expanded', () => {
  const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]'];
  for (let i = 1; i < 8; i++) bomb.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10).fill(`*${String.fromCharCode(96 + i)}`).join(',')}]`);
  fails(bomb.join('\n'), /alias|resource|excessive/i);
});

test('YAML 1.2 scalars: "no" and "on" stay strings', () => {
  const [role] = parseRolesYaml('name: dev\nallow:\n  - resources: [nodes]\n    verbs: [list]\n    nodes: "on=no"\n');
  assert.equal(role?.allow[0]?.nodes, 'on=no');
});

test('secret path globs: accepted on secrets rules, refused elsewhere or when invalid, at line:column', () => {
  const [role] = parseRolesYaml('name: app\nallow:\n  - resources: [secrets]\n    verbs: [list, read]\n    paths: ["app/*", db/password, "team/**"]\n');
  assert.deepEqual(role?.allow[0], { resources: ['secrets'], verbs: ['list', 'read'], paths: ['app/*', 'db/password', 'team/**'] });
  fails('roles:\n  - name: dev\n    allow:\n      - resources: [secrets]\n        verbs: [read]\n        paths: [app/*, "app/**/x"]\n', /^line 6:24: role "dev", allow rule 0, paths\[1\]: path glob "app\/\*\*\/x" "\*\*" may only be the last segment/);
  fails('roles:\n  - name: dev\n    deny:\n      - resources: [secrets]\n        verbs: [read]\n        paths: ["/app"]\n', /^line 6:17: role "dev", deny rule 0, paths\[0\]: path glob "\/app" starts with "\/"/);
  fails('roles:\n  - name: dev\n    allow:\n      - resources: [secrets, nodes]\n        verbs: [read]\n        paths: [app/*]\n', /^line 6:9: role "dev", allow rule 0, paths: paths only apply to rules whose resources are exactly secrets/);
  fails('name: dev\nallow:\n  - resources: ["*"]\n    verbs: [read]\n    paths: [app/*]\n', /^line 5:5: .*paths only apply/);
  fails('name: dev\nallow:\n  - resources: [secrets]\n    verbs: [read]\n    paths: []\n', /^line 5:5: .*list at least one path glob/);
});
