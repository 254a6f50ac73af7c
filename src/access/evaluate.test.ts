import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Labels } from '../core/labels.js';
import { authorize, canAccessResource, describeRule, nodeFilter, pathFilter } from './evaluate.js';
import type { AccessRequest } from './evaluate.js';
import { BUILTIN_ROLES, RESOURCE_VERBS, RESOURCES, validateRole } from './roles.js';
import type { Role, Rule } from './roles.js';

function builtin(name: string): Role {
  const role = BUILTIN_ROLES.find((r) => r.name === name);
  assert.ok(role);
  return role;
}

const admin = builtin('admin');
const operator = builtin('operator');
const auditor = builtin('auditor');
const viewer = builtin('viewer');

const staging = { labels: { env: 'staging', tier: 'web' } };
const prod = { labels: { env: 'prod', tier: 'db' } };

const stagingOps = validateRole({
  name: 'staging-ops',
  allow: [
    { resources: ['nodes'], verbs: ['list', 'read'] },
    { resources: ['nodes'], verbs: ['exec'], nodes: 'env=staging' },
  ],
});

const allowed = (roles: Role[], request: AccessRequest): boolean => authorize(roles, request).allowed;

test('default deny: no roles, or no matching rule', () => {
  const none = authorize([], { resource: 'nodes', verb: 'list' });
  assert.deepEqual(none.reason, { kind: 'default-deny' });
  assert.equal(none.allowed, false);
  assert.equal(none.explanation, 'no roles, so nothing allows list on nodes');
  const d = authorize([viewer, stagingOps], { resource: 'nodes', verb: 'delete', node: prod });
  assert.equal(d.allowed, false);
  assert.equal(d.explanation, 'no rule of roles [viewer, staging-ops] allows delete on nodes for a node labelled env=prod,tier=db');
});

test('an allow names the role and rule that allowed', () => {
  const d = authorize([viewer, stagingOps], { resource: 'nodes', verb: 'exec', node: staging });
  assert.equal(d.allowed, true);
  assert.equal(d.reason.kind, 'allow');
  assert.equal(d.reason.role, 'staging-ops');
  assert.equal(d.reason.ruleIndex, 1);
  assert.deepEqual(d.reason.rule, stagingOps.allow[1]);
  assert.equal(d.explanation, 'allowed by role staging-ops, allow rule 1 (nodes: exec on env=staging)');
});

test('deny wins over allow, within a role and across roles, whatever the order', () => {
  const noProdExec = validateRole({ name: 'no-prod-exec', deny: [{ resources: ['nodes'], verbs: ['exec'], nodes: 'env=prod' }] });
  for (const roles of [
    [admin, noProdExec],
    [noProdExec, admin],
  ]) {
    const d = authorize(roles, { resource: 'nodes', verb: 'exec', node: prod });
    assert.equal(d.allowed, false);
    assert.equal(d.reason.kind, 'deny');
    assert.equal(d.reason.role, 'no-prod-exec');
    assert.equal(d.explanation, 'denied by role no-prod-exec, deny rule 0 (nodes: exec on env=prod)');
    assert.ok(allowed(roles, { resource: 'nodes', verb: 'exec', node: staging }));
  }
  const selfDenying = validateRole({
    name: 'self',
    allow: [{ resources: ['*'], verbs: ['*'] }],
    deny: [{ resources: ['users', 'roles'], verbs: ['*'] }],
  });
  assert.ok(allowed([selfDenying], { resource: 'events', verb: 'list' }));
  assert.equal(authorize([selfDenying], { resource: 'roles', verb: 'create' }).reason.kind, 'deny');
});

test('a rule with a node selector matches only requests about a matching node', () => {
  assert.ok(allowed([stagingOps], { resource: 'nodes', verb: 'exec', node: staging }));
  assert.ok(!allowed([stagingOps], { resource: 'nodes', verb: 'exec', node: prod }));
  assert.ok(!allowed([stagingOps], { resource: 'nodes', verb: 'exec' }), 'no node: a scoped rule does not match');
  assert.ok(!allowed([stagingOps], { resource: 'nodes', verb: 'exec', node: { labels: {} } }));
  // A scoped wildcard rule does not reach resources that are not about a node.
  const scopedAll = validateRole({ name: 'scoped-all', allow: [{ resources: ['*'], verbs: ['*'], nodes: 'env=staging' }] });
  assert.ok(!allowed([scopedAll], { resource: 'join-tokens', verb: 'create' }));
  assert.ok(allowed([scopedAll], { resource: 'nodes', verb: 'delete', node: staging }));
  // A rule without a selector matches with or without a node.
  assert.ok(allowed([viewer], { resource: 'nodes', verb: 'read', node: prod }));
  assert.ok(allowed([viewer], { resource: 'nodes', verb: 'read' }));
});

test('a deny rule with a selector does not deny requests about no node', () => {
  const noProd = validateRole({ name: 'no-prod', deny: [{ resources: ['nodes'], verbs: ['*'], nodes: 'env=prod' }] });
  assert.ok(allowed([viewer, noProd], { resource: 'nodes', verb: 'list' }));
  assert.ok(!allowed([viewer, noProd], { resource: 'nodes', verb: 'read', node: prod }));
});

test('selectors: =, !=, in, notin, existence and absence, as Kubernetes does', () => {
  const cases: [string, Labels, boolean][] = [
    ['env=prod', { env: 'prod' }, true],
    ['env==prod', { env: 'prod' }, true],
    ['env=prod', { env: 'staging' }, false],
    ['env!=prod', { env: 'staging' }, true],
    ['env!=prod', {}, true],
    ['env!=prod', { env: 'prod' }, false],
    ['tier in (web, db)', { tier: 'db' }, true],
    ['tier in (web, db)', { tier: 'cache' }, false],
    ['tier in (web, db)', {}, false],
    ['tier notin (cache)', { tier: 'web' }, true],
    ['tier notin (cache)', {}, true],
    ['tier notin (cache)', { tier: 'cache' }, false],
    ['gpu', { gpu: '' }, true],
    ['gpu', {}, false],
    ['!legacy', {}, true],
    ['!legacy', { legacy: 'yes' }, false],
    ['env=prod,tier in (web,db),!legacy', { env: 'prod', tier: 'web' }, true],
    ['env=prod,tier in (web,db),!legacy', { env: 'prod', tier: 'web', legacy: 'x' }, false],
    ['team.example.com/owner=sre', { 'team.example.com/owner': 'sre' }, true],
  ];
  for (const [selector, labels, expected] of cases) {
    const role = validateRole({ name: 'sel', allow: [{ resources: ['nodes'], verbs: ['read'], nodes: selector }] });
    assert.equal(allowed([role], { resource: 'nodes', verb: 'read', node: { labels } }), expected, `${selector} on ${JSON.stringify(labels)}`);
    assert.equal(nodeFilter([role], 'nodes', 'read')(labels), expected);
  }
});

test('wildcards match every resource and verb; exact names match only themselves', () => {
  for (const resource of RESOURCES) {
    for (const verb of RESOURCE_VERBS[resource]) {
      const request = { resource, verb, principal: resource === 'ssh' ? 'root' : undefined } as AccessRequest;
      if (request.principal === undefined) delete request.principal;
      assert.ok(allowed([admin], request), `admin: ${verb} on ${resource}`);
    }
  }
  const reader = validateRole({ name: 'reader', allow: [{ resources: ['events'], verbs: ['*'] }] });
  assert.ok(allowed([reader], { resource: 'events', verb: 'list' }));
  assert.ok(!allowed([reader], { resource: 'nodes', verb: 'list' }));
});

test('unknown resources and verbs are denied, with a hint', () => {
  const d = authorize([admin], { resource: 'nodes', verb: 'exce' });
  // The admin wildcard does match it; the vocabulary is enforced where roles and
  // routes are defined. Without a wildcard, the explanation points at the typo.
  assert.equal(d.allowed, true);
  const v = authorize([viewer], { resource: 'nodes', verb: 'exce' });
  assert.equal(v.allowed, false);
  assert.match(v.explanation, /"exce" is not a verb of nodes: list, read, update, delete, exec/);
  assert.match(authorize([viewer], { resource: 'node', verb: 'list' }).explanation, /"node" is not a resource/);
});

test('principals: an allow rule grants the listed logins, a deny rule refuses them', () => {
  const sign = (roles: Role[], principal: string): boolean => allowed(roles, { resource: 'ssh', verb: 'sign', principal });
  assert.ok(sign([operator], 'ubuntu'));
  assert.ok(sign([operator], 'deploy'));
  const root = authorize([operator], { resource: 'ssh', verb: 'sign', principal: 'root' });
  assert.equal(root.allowed, false);
  assert.equal(root.explanation, 'denied by role operator, deny rule 0 (ssh: sign as root)');
  assert.ok(sign([admin], 'root'));
  assert.ok(!sign([operator, admin], 'root'), "operator's deny of root wins even with admin");

  const listed = validateRole({ name: 'listed', allow: [{ resources: ['ssh'], verbs: ['sign'], principals: ['ubuntu', 'deploy'] }] });
  assert.ok(sign([listed], 'ubuntu'));
  assert.ok(!sign([listed], 'root'));
  assert.match(authorize([listed], { resource: 'ssh', verb: 'sign', principal: 'root' }).explanation, /^no rule of roles \[listed\] allows sign on ssh as root$/);

  // An allow rule without principals grants no login, even with wildcards.
  const everythingButLogins = validateRole({ name: 'ebl', allow: [{ resources: ['*'], verbs: ['*'] }] });
  assert.ok(!sign([everythingButLogins], 'ubuntu'));
  assert.ok(allowed([everythingButLogins], { resource: 'nodes', verb: 'exec', node: prod }));

  // A deny rule without principals refuses every login.
  const noSsh = validateRole({ name: 'no-ssh', deny: [{ resources: ['ssh'], verbs: ['sign'] }] });
  assert.ok(!sign([admin, noSsh], 'ubuntu'));
  assert.ok(!allowed([admin, noSsh], { resource: 'ssh', verb: 'sign' }));
});

test('a request naming no principal is about signing at all: allow principals do not narrow it, deny principals do not refuse it', () => {
  assert.ok(allowed([operator], { resource: 'ssh', verb: 'sign' }));
  assert.ok(allowed([admin], { resource: 'nodes', verb: 'list' }), "admin's principals do not narrow non-ssh requests");
  assert.ok(!allowed([viewer], { resource: 'ssh', verb: 'sign' }));
});

test('requireMfa: a session without MFA gets nothing from the role, but its denies still hold', () => {
  assert.equal(admin.requireMfa, true);
  assert.ok(allowed([admin], { resource: 'users', verb: 'create', mfaVerified: true }));
  assert.ok(allowed([admin], { resource: 'users', verb: 'create' }), 'not stated: not enforced here (API tokens)');
  const d = authorize([admin], { resource: 'users', verb: 'create', mfaVerified: false });
  assert.equal(d.allowed, false);
  assert.equal(d.explanation, 'no rule of roles [admin] allows create on users; role admin requires MFA, which this session has not passed');
  // Other roles still grant what they grant.
  assert.ok(allowed([admin, viewer], { resource: 'nodes', verb: 'list', mfaVerified: false }));
  const strictDeny = validateRole({ name: 'strict', requireMfa: true, deny: [{ resources: ['nodes'], verbs: ['delete'] }] });
  assert.ok(!allowed([viewer, strictDeny, stagingOps], { resource: 'nodes', verb: 'delete', node: prod, mfaVerified: false }));
  assert.equal(canAccessResource([admin], 'users', 'create', { mfaVerified: false }), false);
  assert.equal(nodeFilter([admin], 'nodes', 'list', { mfaVerified: false })({}), false);
});

test('the built-in roles grant what the issue says', () => {
  const every = RESOURCES.flatMap((resource) => RESOURCE_VERBS[resource].map((verb) => ({ resource, verb: verb as string })));
  const grants = (role: Role): string[] =>
    every
      .filter(({ resource, verb }) => allowed([role], { resource, verb, node: prod, ...(resource === 'ssh' ? { principal: 'ubuntu' } : {}) }))
      .map(({ resource, verb }) => `${resource}:${verb}`);
  assert.deepEqual(grants(viewer), ['cluster:read', 'nodes:list', 'nodes:read', 'events:list', 'audits:list', 'audits:read', 'backups:list', 'backups:read']);
  assert.deepEqual(grants(operator), [
    'cluster:read',
    'nodes:list',
    'nodes:read',
    'nodes:exec',
    'join-tokens:create',
    'join-tokens:list',
    'join-tokens:delete',
    'events:list',
    'ssh:sign',
    'audits:list',
    'audits:read',
    'audits:run',
    'audits:schedule',
    'policies:list',
    'policies:read',
    'vulndb:list',
    'backups:list',
    'backups:read',
    'backups:run',
    'backups:restore',
    'backups:drill',
  ]);
  const auditorGrants = grants(auditor);
  assert.deepEqual(auditorGrants, [
    'cluster:read',
    'nodes:list',
    'nodes:read',
    'join-tokens:list',
    'api-tokens:list',
    'events:list',
    'users:list',
    'users:read',
    'roles:list',
    'roles:read',
    'sessions:list',
    'auditlog:list',
    'auditlog:verify',
    'auditlog:export',
    'secrets:list',
    'audits:list',
    'audits:read',
    'policies:list',
    'policies:read',
    'vulndb:list',
    'keyring:read',
    'backups:list',
    'backups:read',
  ]);
  for (const g of auditorGrants) assert.match(g, /:(list|read|verify|export)$/, 'auditor writes or execs nothing');
  assert.equal(grants(admin).length, every.length);
});

test('nodeFilter keeps exactly the nodes authorize allows', () => {
  const roles = [
    stagingOps,
    validateRole({ name: 'no-db', deny: [{ resources: ['nodes'], verbs: ['exec'], nodes: 'tier=db' }] }),
  ];
  const nodes: Labels[] = [{ env: 'staging', tier: 'web' }, { env: 'staging', tier: 'db' }, { env: 'prod', tier: 'web' }, {}];
  for (const verb of ['list', 'exec', 'delete']) {
    const visible = nodeFilter(roles, 'nodes', verb);
    for (const labels of nodes) {
      assert.equal(visible(labels), allowed(roles, { resource: 'nodes', verb, node: { labels } }), `${verb} ${JSON.stringify(labels)}`);
    }
  }
  assert.deepEqual(nodes.filter(nodeFilter(roles, 'nodes', 'exec')), [{ env: 'staging', tier: 'web' }]);
  assert.equal(nodes.filter(nodeFilter(roles, 'nodes', 'list')).length, 4);
  assert.equal(nodes.filter(nodeFilter([], 'nodes', 'list')).length, 0);
});

test('canAccessResource: is the verb allowed for any node at all?', () => {
  assert.equal(canAccessResource([stagingOps], 'nodes', 'exec'), true, 'some node (env=staging) is in scope');
  assert.equal(canAccessResource([stagingOps], 'nodes', 'delete'), false);
  assert.equal(canAccessResource([viewer], 'nodes', 'exec'), false);
  assert.equal(canAccessResource([], 'nodes', 'list'), false);
  // A deny without a selector shuts the verb everywhere.
  const noExec = validateRole({ name: 'no-exec', deny: [{ resources: ['nodes'], verbs: ['exec'] }] });
  assert.equal(canAccessResource([admin, noExec], 'nodes', 'exec'), false);
  // A deny covering exactly the allowed scope leaves nothing; a narrower one leaves some.
  const denyStaging = validateRole({ name: 'deny-staging', deny: [{ resources: ['nodes'], verbs: ['exec'], nodes: 'env in (staging)' }] });
  assert.equal(canAccessResource([stagingOps, denyStaging], 'nodes', 'exec'), false);
  const denyStagingDb = validateRole({ name: 'deny-staging-db', deny: [{ resources: ['nodes'], verbs: ['exec'], nodes: 'env=staging,tier=db' }] });
  assert.equal(canAccessResource([stagingOps, denyStagingDb], 'nodes', 'exec'), true);
  // Two denies that together cover everything the allow reaches.
  const split = [
    validateRole({ name: 'a', allow: [{ resources: ['nodes'], verbs: ['exec'], nodes: 'env in (a, b)' }] }),
    validateRole({ name: 'b', deny: [{ resources: ['nodes'], verbs: ['exec'], nodes: 'env=a' }, { resources: ['nodes'], verbs: ['exec'], nodes: 'env=b' }] }),
  ];
  assert.equal(canAccessResource(split, 'nodes', 'exec'), false);
  // Resources about no node: the same as authorize without a node.
  assert.equal(canAccessResource([operator], 'join-tokens', 'create'), true);
  assert.equal(canAccessResource([viewer], 'join-tokens', 'create'), false);
  // SSH: some login is allowed (operator: any but root); none when every login is denied.
  assert.equal(canAccessResource([operator], 'ssh', 'sign'), true);
  const rootOnly = validateRole({ name: 'root-only', allow: [{ resources: ['ssh'], verbs: ['sign'], principals: ['root'] }] });
  assert.equal(canAccessResource([rootOnly, operator], 'ssh', 'sign'), true, 'operator still grants other logins');
  const denyRoot = validateRole({ name: 'deny-root', deny: [{ resources: ['ssh'], verbs: ['sign'], principals: ['root'] }] });
  assert.equal(canAccessResource([rootOnly, denyRoot], 'ssh', 'sign'), true, 'a request naming no login is still allowed');
});

// Brute force: over a small universe of labels and logins, canAccessResource must
// agree with "authorize allows some request". Selectors only use keys a, b and
// values x, y, so the value z and absence stand for every other label set.
test('canAccessResource agrees with an exhaustive search over requests', () => {
  let seed = 42;
  const random = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const pick = <T>(items: readonly T[]): T => items[random(items.length)] as T;
  const requirement = (): string => {
    const key = pick(['a', 'b']);
    return pick([`${key}=x`, `${key}!=y`, `${key} in (x, y)`, `${key} notin (x)`, key, `!${key}`, `${key}=y`]);
  };
  const rule = (effect: 'allow' | 'deny'): Rule => {
    const r: Rule = { resources: ['nodes', 'ssh'], verbs: ['exec', 'sign'] };
    if (random(3) > 0) r.nodes = Array.from({ length: 1 + random(2) }, requirement).join(', ');
    if (effect === 'allow' || random(2) === 0) r.principals = [pick(['ubuntu', 'root', '*'])];
    return r;
  };
  const values = [undefined, 'x', 'y', 'z'];
  const labelSets: (Labels | undefined)[] = [undefined];
  for (const a of values) {
    for (const b of values) {
      const labels: Labels = {};
      if (a !== undefined) labels['a'] = a;
      if (b !== undefined) labels['b'] = b;
      labelSets.push(labels);
    }
  }
  const principals = [undefined, 'ubuntu', 'root', 'someone-else'];
  let agreedTrue = 0;
  for (let i = 0; i < 400; i++) {
    const roles: Role[] = Array.from({ length: 1 + random(2) }, (_, j) => ({
      name: `r${j}`,
      allow: Array.from({ length: random(3) }, () => rule('allow')),
      deny: Array.from({ length: random(3) }, () => rule('deny')),
    }));
    const exhaustive = labelSets.some((labels) =>
      principals.some((principal) =>
        allowed(roles, { resource: 'nodes', verb: 'exec', ...(labels ? { node: { labels } } : {}), ...(principal ? { principal } : {}) }),
      ),
    );
    assert.equal(canAccessResource(roles, 'nodes', 'exec'), exhaustive, JSON.stringify(roles));
    if (exhaustive) agreedTrue++;
  }
  assert.ok(agreedTrue > 50 && agreedTrue < 350, `both answers occur (${agreedTrue} of 400 allowed)`);
});

test('a stored rule with an unparsable selector fails closed', () => {
  const brokenAllow: Role = { name: 'broken-allow', allow: [{ resources: ['nodes'], verbs: ['exec'], nodes: 'env in (' }], deny: [] };
  const brokenDeny: Role = { name: 'broken-deny', allow: [], deny: [{ resources: ['nodes'], verbs: ['exec'], nodes: 'env in (' }] };
  assert.ok(!allowed([brokenAllow], { resource: 'nodes', verb: 'exec', node: staging }));
  assert.ok(!allowed([admin, brokenDeny], { resource: 'nodes', verb: 'exec', node: staging }));
  assert.equal(canAccessResource([brokenAllow], 'nodes', 'exec'), false);
  assert.equal(canAccessResource([admin, brokenDeny], 'nodes', 'exec'), true, 'the deny only applies to requests about a node; admin may still ask without one');
  assert.equal(nodeFilter([admin, brokenDeny], 'nodes', 'exec')({}), false);
});

test('rules are described the way people write them', () => {
  assert.equal(describeRule({ resources: ['nodes'], verbs: ['exec'], nodes: 'env=staging' }), 'nodes: exec on env=staging');
  assert.equal(describeRule({ resources: ['ssh'], verbs: ['sign'], principals: ['ubuntu', 'deploy'] }), 'ssh: sign as ubuntu, deploy');
  assert.equal(describeRule({ resources: ['*'], verbs: ['list', 'read'] }), '*: list, read');
  assert.equal(authorize([viewer], { resource: 'nodes', verb: 'exec', node: { labels: {} } }).explanation, 'no rule of roles [viewer] allows exec on nodes for a node without labels');
});

const appSecrets = validateRole({
  name: 'app-secrets',
  allow: [
    { resources: ['secrets'], verbs: ['list', 'read', 'write'], paths: ['app/*', 'db/password'] },
    { resources: ['secrets'], verbs: ['list'], paths: ['shared/**'] },
  ],
  deny: [{ resources: ['secrets'], verbs: ['read', 'write'], paths: ['app/root-*'] }],
});

test('paths: a rule with globs matches only requests about a matching path', () => {
  const req = (verb: string, path?: string): AccessRequest => ({ resource: 'secrets', verb, ...(path === undefined ? {} : { path }) });
  assert.ok(allowed([appSecrets], req('read', 'app/db')));
  assert.ok(allowed([appSecrets], req('write', 'db/password')));
  assert.ok(!allowed([appSecrets], req('read', 'app/db/old')), '"*" stays within one segment');
  assert.ok(!allowed([appSecrets], req('read', 'db/password2')));
  assert.ok(!allowed([appSecrets], req('read', 'shared/x')), 'shared/** grants list only');
  assert.ok(allowed([appSecrets], req('list', 'shared/a/b/c')));
  assert.ok(!allowed([appSecrets], req('read')), 'an allow rule with paths never matches a request about no path');
  assert.ok(!allowed([appSecrets], req('list')));
  const d = authorize([appSecrets], req('read', 'app/root-key'));
  assert.equal(d.allowed, false, 'deny wins');
  assert.equal(d.explanation, 'denied by role app-secrets, deny rule 0 (secrets: read, write at app/root-*)');
  assert.equal(authorize([appSecrets], req('read', 'app/db')).explanation, 'allowed by role app-secrets, allow rule 0 (secrets: list, read, write at app/*, db/password)');
  assert.equal(authorize([appSecrets], req('delete', 'app/db')).explanation, 'no rule of roles [app-secrets] allows delete on secrets at app/db');
});

test('paths: a rule without paths matches every path, and a deny with paths leaves requests about no path alone', () => {
  assert.ok(allowed([admin], { resource: 'secrets', verb: 'read', path: 'any/where' }));
  const noAppDelete = validateRole({ name: 'no-app-delete', deny: [{ resources: ['secrets'], verbs: ['delete'], paths: ['app/**'] }] });
  assert.ok(!allowed([admin, noAppDelete], { resource: 'secrets', verb: 'delete', path: 'app/x/y' }));
  assert.ok(allowed([admin, noAppDelete], { resource: 'secrets', verb: 'delete', path: 'other/x' }));
  assert.ok(allowed([admin, noAppDelete], { resource: 'secrets', verb: 'delete' }));
  // Other requests are unchanged by a path: rules of other resources ignore it.
  assert.ok(allowed([viewer], { resource: 'nodes', verb: 'list', path: 'app/x' }));
  assert.ok(!allowed([auditor], { resource: 'secrets', verb: 'read', path: 'app/x' }), "the auditor's deny has no paths, so it covers every path");
  assert.ok(allowed([auditor], { resource: 'secrets', verb: 'list', path: 'app/x' }));
});

test('paths combine with node selectors: both must match', () => {
  const stagingApp = validateRole({ name: 'staging-app', allow: [{ resources: ['secrets'], verbs: ['deliver'], nodes: 'env=staging', paths: ['app/**'] }] });
  assert.ok(allowed([stagingApp], { resource: 'secrets', verb: 'deliver', node: staging, path: 'app/db' }));
  assert.ok(!allowed([stagingApp], { resource: 'secrets', verb: 'deliver', node: prod, path: 'app/db' }));
  assert.ok(!allowed([stagingApp], { resource: 'secrets', verb: 'deliver', node: staging, path: 'web/tls' }));
  assert.equal(nodeFilter([stagingApp], 'secrets', 'deliver', { path: 'app/db' })(staging.labels), true);
  assert.equal(nodeFilter([stagingApp], 'secrets', 'deliver', { path: 'web/tls' })(staging.labels), false);
  assert.equal(nodeFilter([stagingApp], 'secrets', 'deliver')(staging.labels), false, 'no path: the path-scoped allow does not apply');
  assert.equal(pathFilter([stagingApp], 'secrets', 'deliver', { node: staging })('app/x'), true);
  assert.equal(pathFilter([stagingApp], 'secrets', 'deliver', { node: prod })('app/x'), false);
});

test('pathFilter keeps exactly the paths authorize allows', () => {
  const paths = ['app/db', 'app/root-key', 'app/db/old', 'db/password', 'shared/a', 'shared/a/b', 'other'];
  for (const roles of [[appSecrets], [admin], [auditor], [viewer], [admin, appSecrets], [operator, appSecrets]]) {
    for (const verb of ['list', 'read', 'write', 'delete']) {
      const visible = pathFilter(roles, 'secrets', verb);
      for (const path of paths) {
        assert.equal(visible(path), allowed(roles, { resource: 'secrets', verb, path }), `${roles.map((r) => r.name).join('+')} ${verb} ${path}`);
      }
    }
  }
});

test('canAccessResource with paths: yes when some path may be allowed, never no when one is', () => {
  assert.equal(canAccessResource([appSecrets], 'secrets', 'read'), true);
  assert.equal(canAccessResource([appSecrets], 'secrets', 'delete'), false);
  const noneAtAll = validateRole({ name: 'none-at-all', deny: [{ resources: ['secrets'], verbs: ['read'], paths: ['**'] }] });
  assert.equal(canAccessResource([appSecrets, noneAtAll], 'secrets', 'read'), false, '"**" denies every path');
  const noApp = validateRole({ name: 'no-app', deny: [{ resources: ['secrets'], verbs: ['read'], paths: ['app/**'] }] });
  assert.equal(canAccessResource([admin, noApp], 'secrets', 'read'), true, 'other paths stay readable');
  assert.equal(canAccessResource([auditor], 'secrets', 'read'), false);
  assert.equal(canAccessResource([auditor], 'secrets', 'list'), true);
});

test('a stored rule with an invalid glob fails closed', () => {
  const brokenAllow: Role = { name: 'broken-allow', allow: [{ resources: ['secrets'], verbs: ['read'], paths: ['app/**/x'] }], deny: [] };
  const brokenDeny: Role = { name: 'broken-deny', allow: [], deny: [{ resources: ['secrets'], verbs: ['read'], paths: ['/bad'] }] };
  assert.ok(!allowed([brokenAllow], { resource: 'secrets', verb: 'read', path: 'app/a/x' }));
  assert.ok(!allowed([admin, brokenDeny], { resource: 'secrets', verb: 'read', path: 'anything' }));
  assert.equal(pathFilter([admin, brokenDeny], 'secrets', 'read')('anything'), false);
});

test('backups: a role scoped to some nodes restores there only; the built-in operator everywhere, the viewer nowhere', () => {
  const dbRestorer = validateRole({ name: 'db-restorer', allow: [{ resources: ['backups'], verbs: ['list', 'restore'], nodes: 'env=staging' }] });
  assert.ok(allowed([dbRestorer], { resource: 'backups', verb: 'restore', node: staging }));
  assert.ok(!allowed([dbRestorer], { resource: 'backups', verb: 'restore', node: prod }));
  assert.ok(!allowed([dbRestorer], { resource: 'backups', verb: 'restore' }), 'a request about no node (a policy) is outside a node-scoped rule');
  assert.equal(canAccessResource([dbRestorer], 'backups', 'restore'), true);
  assert.equal(nodeFilter([dbRestorer], 'backups', 'restore')(prod.labels), false);
  assert.ok(allowed([operator], { resource: 'backups', verb: 'restore', node: prod }));
  assert.ok(!allowed([operator], { resource: 'backups', verb: 'write' }), 'policies carry credentials: admin only');
  assert.ok(!allowed([viewer], { resource: 'backups', verb: 'drill', node: prod }));
  assert.ok(allowed([auditor], { resource: 'backups', verb: 'read' }));
});
