/**
 * The ways past access control a review found, each shut: shaping roles or
 * granting roles to make oneself admin, parallel password guessing, names that
 * reveal hidden nodes, text that cannot be recorded, wildcard SSH logins.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ShiftedClock, createUser, enroll, login, mintApiToken, nextTotp, startTestServer, userWithMfa, type ErrorJson, type TestServer } from './harness.js';

describe('closed escalation paths', () => {
  let t: TestServer;

  before(async () => {
    t = await startTestServer();
    const roles = [
      'name: role-shaper\nallow:\n  - { resources: [roles], verbs: [create, list, read] }\ndeny: []\n',
      'name: user-admin\nallow:\n  - { resources: [users], verbs: [create, list, read, update] }\ndeny: []\n',
      'name: staging-reader\nallow:\n  - { resources: [nodes], verbs: [list, read], nodes: "env=staging" }\n  - { resources: [roles], verbs: [read] }\ndeny: []\n',
    ];
    for (const yaml of roles) assert.equal((await t.api('PUT', '/v1/roles', { yaml })).status, 200);
  });

  after(async () => {
    await t.close();
  });

  it('a holder of roles:create cannot rewrite its own role into admin', async () => {
    const shaper = await mintApiToken(t, 'role-shaper');
    const grab = 'name: role-shaper\nallow:\n  - { resources: ["*"], verbs: ["*"], principals: ["*"] }\ndeny: []\n';
    const res = await t.api<ErrorJson>('PUT', '/v1/roles', { yaml: grab }, { token: shaper.token });
    assert.equal(res.status, 403, res.body);
    assert.equal(res.json.error.code, 'FORBIDDEN');
    assert.equal((await t.api('GET', '/v1/users', undefined, { token: shaper.token })).status, 403, 'still no more than before');
  });

  it('a holder of users:update can neither raise itself nor give away roles it does not hold', async () => {
    const admin = await createUser(t, { roles: ['user-admin'] });
    const token = await mintApiToken(t, 'user-admin');
    const self = await t.api<ErrorJson>('PUT', `/v1/users/${admin.name}/roles`, { roles: ['admin', 'user-admin'] }, { token: token.token });
    assert.equal(self.status, 403, self.body);
    const other = await createUser(t, { roles: ['viewer'] });
    const raise = await t.api<ErrorJson>('PUT', `/v1/users/${other.name}/roles`, { roles: ['admin'] }, { token: token.token });
    assert.equal(raise.status, 403, raise.body);
    const create = await t.api<ErrorJson>('POST', '/v1/users', { name: 'sneaky-admin', roles: ['admin'] }, { token: token.token });
    assert.equal(create.status, 403, create.body);
    const same = await t.api('POST', '/v1/users', { name: 'fellow-user-admin', roles: ['user-admin'] }, { token: token.token });
    assert.equal(same.status, 201, 'a role it holds may be given');
  });

  it('password guesses sent in parallel back off like guesses sent one by one', async () => {
    const victim = await createUser(t, { roles: ['viewer'] });
    const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => login(t, victim.name, `wrong-guess-${i}`, undefined, { remoteAddress: '10.66.0.1' })));
    const limited = answers.filter((a) => a.status === 429).length;
    const refused = answers.filter((a) => a.status === 401).length;
    assert.equal(limited + refused, 30);
    assert.ok(refused <= 10 && limited >= 20, `${refused} guesses were checked, ${limited} were held back`);
  });

  it('a name shared with a hidden node neither leaks its id nor is ambiguous; access check is no oracle', async () => {
    const prod = await enroll(t, { labels: { env: 'prod' }, hostname: 'twin' });
    const staging = await enroll(t, { labels: { env: 'staging' }, hostname: 'twin' });
    const reader = await mintApiToken(t, 'staging-reader');
    const byName = await t.api<{ id: string }>('GET', '/v1/nodes/twin', undefined, { token: reader.token });
    assert.equal(byName.status, 200, byName.body);
    assert.equal(byName.json.id, staging.identity.nodeId);
    assert.ok(!byName.body.includes(prod.identity.nodeId));
    const check = await t.api<ErrorJson>('POST', '/v1/access/check', { role: 'viewer', verb: 'read', node: prod.identity.nodeId }, { token: reader.token });
    assert.equal(check.status, 404, check.body);
    assert.equal(check.json.error.code, 'NODE_NOT_FOUND');
  });

  it('text that is not well-formed Unicode is refused with 400 before anything is done', async () => {
    const badLogin = await t.api<ErrorJson>('POST', '/v1/login', { user: 'a\ud800', password: 'whatever-password' }, { token: null });
    assert.equal(badLogin.status, 400, badLogin.body);
    const badToken = await t.api<ErrorJson>('POST', '/v1/join-tokens', { ttlSeconds: 60, description: 'x\udc00' });
    assert.equal(badToken.status, 400, badToken.body);
    assert.match(badToken.json.error.message, /not well-formed Unicode/);
  });

  it('an SSH certificate is never issued for a wildcard login', async () => {
    const res = await t.api<ErrorJson>('POST', '/v1/ssh/sign', { publicKey: 'ssh-ed25519 AAAA', principals: ['*'] });
    assert.equal(res.status, 400, res.body);
  });
});

describe('credentials that outlive their reason', () => {
  const clock = new ShiftedClock();
  let t: TestServer;

  before(async () => {
    t = await startTestServer({ clock });
  });

  after(async () => {
    await t.close();
  });

  it('an API token stops working when its maker is locked, and works again once unlocked', async () => {
    const maker = await userWithMfa(t, clock, { roles: ['admin'] });
    const token = await mintApiToken(t, 'viewer', { as: maker.session });
    assert.equal((await t.api('GET', '/v1/nodes', undefined, { token: token.token })).status, 200);
    await userWithMfa(t, clock, { roles: ['admin'] }); // another admin, so the maker may be locked
    assert.equal((await t.api('POST', `/v1/users/${maker.name}/lock`)).status, 200);
    assert.equal((await t.api('GET', '/v1/nodes', undefined, { token: token.token })).status, 401);
    assert.equal((await t.api('POST', `/v1/users/${maker.name}/unlock`)).status, 200);
    assert.equal((await t.api('GET', '/v1/nodes', undefined, { token: token.token })).status, 200);
  });

  it('replacing an MFA factor takes a current code, and the old factor stays in force until the new one is confirmed', async () => {
    const user = await userWithMfa(t, clock, { roles: ['viewer'] });
    const noCode = await t.api<ErrorJson>('POST', '/v1/mfa/enroll', {}, { token: user.session });
    assert.equal(noCode.status, 401, noCode.body);
    assert.equal(noCode.json.error.code, 'MFA_REQUIRED');
    const replaced = await t.api('POST', '/v1/mfa/enroll', { currentCode: nextTotp(user.totpSecret, clock) }, { token: user.session });
    assert.equal(replaced.status, 200, replaced.body);
    // Pending, not confirmed: a login still needs a code of the factor in use.
    const withoutCode = await login(t, user.name, user.password, undefined, { remoteAddress: '10.67.0.1' });
    assert.equal(withoutCode.status, 401);
    assert.equal((withoutCode.json as ErrorJson).error.code, 'MFA_REQUIRED');
    const withOldCode = await login(t, user.name, user.password, nextTotp(user.totpSecret, clock), { remoteAddress: '10.67.0.1' });
    assert.equal(withOldCode.status, 200, withOldCode.body);
  });
});
