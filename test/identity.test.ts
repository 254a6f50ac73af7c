/**
 * Identities against a real server: passwords, TOTP (enrolled through the API),
 * locks, session and API-token lifetimes and revocation, the MFA the admin role
 * requires, who may mint which token, the bootstrap token, login rate limits,
 * and that credentials are stored only as hashes.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { base32Decode, base32Encode, totpCode } from '../src/access/totp.js';
import { testDatabases } from '../src/store/test-databases.js';
import {
  createUser,
  enrollMfa,
  login,
  loginSession,
  mintApiToken,
  nextTotp,
  POSTGRES_URL,
  ShiftedClock,
  startTestServer,
  uniqueName,
  userWithMfa,
  type ErrorJson,
  type TestServer,
} from './harness.js';

const GENERIC_LOGIN_FAILURE = 'login failed: wrong user name, password or code';

interface WhoAmI {
  actor: string;
  kind: string;
  roles: string[];
  mfa: boolean;
  mfaEnrollmentRequired: boolean;
}

/** A 6-digit code that is none of the codes the server accepts right now (±1 step). */
function wrongCode(secret: Uint8Array, now: number): string {
  const valid = new Set([-30_000, 0, 30_000].map((d) => totpCode(secret, now + d)));
  for (let d = 0; d <= 9; d++) {
    const candidate = String(d).repeat(6);
    if (!valid.has(candidate)) return candidate;
  }
  throw new Error('unreachable: at most three codes are valid');
}

function assertError(res: { status: number; body: string; json: unknown }, status: number, code: string): ErrorJson {
  assert.equal(res.status, status, res.body);
  const json = res.json as ErrorJson;
  assert.equal(json.error.code, code, res.body);
  return json;
}

describe('identity', () => {
  const clock = new ShiftedClock();
  let t: TestServer;

  before(async () => {
    t = await startTestServer({ clock });
  });
  after(async () => {
    await t?.close();
  });

  it('refuses a wrong password with 401 and the same answer as for an unknown user', async () => {
    const user = await createUser(t, { roles: ['viewer'] });
    const wrong = await login(t, user.name, `${user.password}x`, undefined, { remoteAddress: '10.1.0.1' });
    const unknown = await login(t, uniqueName('nobody'), user.password, undefined, { remoteAddress: '10.1.0.1' });
    const a = assertError(wrong, 401, 'UNAUTHENTICATED');
    const b = assertError(unknown, 401, 'UNAUTHENTICATED');
    assert.deepEqual(a, b, 'the answer does not tell which part was wrong');
    assert.equal(a.error.message, GENERIC_LOGIN_FAILURE);
    assert.equal(wrong.json.token, undefined);
    const right = await login(t, user.name, user.password, undefined, { remoteAddress: '10.1.0.1' });
    assert.equal(right.status, 200, right.body);
    assert.match(right.json.token, /^bws_/);
    const who = await t.api<WhoAmI>('GET', '/v1/whoami', undefined, { token: right.json.token });
    assert.equal(who.status, 200);
    assert.deepEqual({ actor: who.json.actor, kind: who.json.kind, roles: who.json.roles, mfa: who.json.mfa }, { actor: user.name, kind: 'session', roles: ['viewer'], mfa: false });
  });

  it('enrols TOTP through the API; then a login needs the code, and wrong or replayed codes are refused', async () => {
    const user = await createUser(t, { roles: ['operator'] });
    const first = await loginSession(t, user.name, user.password);
    const begun = await t.api<{ uri: string; secret: string }>('POST', '/v1/mfa/enroll', undefined, { token: first });
    assert.equal(begun.status, 200, begun.body);
    assert.match(begun.json.uri, /^otpauth:\/\/totp\//);
    assert.ok(begun.json.uri.includes(`secret=${begun.json.secret}`), 'the URI carries the secret');
    const secret = base32Decode(begun.json.secret);
    assert.equal(secret.length, 20, 'a 160-bit SHA-1 secret');

    const badConfirm = await t.api('POST', '/v1/mfa/confirm', { code: wrongCode(secret, clock.now()) }, { token: first });
    assertError(badConfirm, 401, 'UNAUTHENTICATED');
    const confirmed = await t.api('POST', '/v1/mfa/confirm', { code: nextTotp(secret, clock) }, { token: first });
    assert.equal(confirmed.status, 204, confirmed.body);
    const stale = await t.api('GET', '/v1/whoami', undefined, { token: first });
    assertError(stale, 401, 'UNAUTHENTICATED');

    const src = { remoteAddress: '10.2.0.1' };
    assertError(await login(t, user.name, user.password, undefined, src), 401, 'MFA_REQUIRED');
    const wrong = assertError(await login(t, user.name, user.password, wrongCode(secret, clock.now()), src), 401, 'UNAUTHENTICATED');
    assert.equal(wrong.error.message, GENERIC_LOGIN_FAILURE);

    const code = nextTotp(secret, clock);
    assertError(await login(t, user.name, `${user.password}x`, code, src), 401, 'UNAUTHENTICATED');
    const ok = await login(t, user.name, user.password, code, src);
    assert.equal(ok.status, 200, ok.body);
    const who = await t.api<WhoAmI>('GET', '/v1/whoami', undefined, { token: ok.json.token });
    assert.equal(who.json.mfa, true);

    const replayed = assertError(await login(t, user.name, user.password, code, src), 401, 'UNAUTHENTICATED');
    assert.equal(replayed.error.message, GENERIC_LOGIN_FAILURE);
    // A code of an earlier step, still inside the ±1 window, is as used as the last one.
    const earlier = totpCode(secret, clock.now() - 30_000);
    assertError(await login(t, user.name, user.password, earlier, src), 401, 'UNAUTHENTICATED');
    const next = await login(t, user.name, user.password, nextTotp(secret, clock), src);
    assert.equal(next.status, 200, 'the next step’s code works');

    const audit = await t.server.audit.list({ actor: user.name, action: 'login', limit: 100 });
    const reasons = audit.map((e) => `${e.decision}:${String(e.details.reason)}`);
    assert.ok(reasons.includes('deny:mismatch TOTP code'), reasons.join(', '));
    assert.ok(reasons.includes('deny:replayed TOTP code'), reasons.join(', '));
    assert.ok(reasons.includes('allow:password and TOTP'), reasons.join(', '));
  });

  it('refuses a locked user (ACCOUNT_LOCKED) and revokes their sessions; unlocking lets them in again', async () => {
    const user = await createUser(t, { roles: ['viewer'] });
    const session = await loginSession(t, user.name, user.password);
    assert.equal((await t.api('GET', '/v1/nodes', undefined, { token: session })).status, 200);

    const locked = await t.api<{ locked: boolean }>('POST', `/v1/users/${user.name}/lock`);
    assert.equal(locked.status, 200, locked.body);
    assert.equal(locked.json.locked, true);
    assertError(await t.api('GET', '/v1/nodes', undefined, { token: session }), 401, 'UNAUTHENTICATED');
    const sessions = await t.api<{ sessions: { user: string }[] }>('GET', '/v1/sessions');
    assert.ok(!sessions.json.sessions.some((s) => s.user === user.name), 'no live session of the locked user');

    const src = { remoteAddress: '10.3.0.1' };
    assertError(await login(t, user.name, user.password, undefined, src), 403, 'ACCOUNT_LOCKED');
    // A wrong password says nothing about the lock.
    assertError(await login(t, user.name, `${user.password}x`, undefined, src), 401, 'UNAUTHENTICATED');

    assert.equal((await t.api('POST', `/v1/users/${user.name}/unlock`)).status, 200);
    const again = await login(t, user.name, user.password, undefined, src);
    assert.equal(again.status, 200, again.body);
    // The session from before the lock stays dead.
    assertError(await t.api('GET', '/v1/nodes', undefined, { token: session }), 401, 'UNAUTHENTICATED');
  });

  it('refuses a revoked API token, a forged one, and a revoked or logged-out session', async () => {
    const minted = await mintApiToken(t, 'viewer');
    assert.match(minted.token, /^bwt_/);
    assert.equal((await t.api('GET', '/v1/nodes', undefined, { token: minted.token })).status, 200);
    const forged = `${minted.token.slice(0, -1)}${minted.token.endsWith('A') ? 'B' : 'A'}`;
    assertError(await t.api('GET', '/v1/nodes', undefined, { token: forged }), 401, 'UNAUTHENTICATED');
    assert.equal((await t.api('DELETE', `/v1/api-tokens/${minted.id}`)).status, 204);
    assertError(await t.api('GET', '/v1/nodes', undefined, { token: minted.token }), 401, 'UNAUTHENTICATED');
    const listed = await t.api<{ tokens: { id: string; revokedAt: number | null }[] }>('GET', '/v1/api-tokens');
    assert.notEqual(listed.json.tokens.find((x) => x.id === minted.id)?.revokedAt, null);
    assertError(await t.api('DELETE', `/v1/api-tokens/${minted.id}`), 404, 'NOT_FOUND');

    const user = await createUser(t, { roles: ['viewer'] });
    const revoked = await loginSession(t, user.name, user.password);
    const kept = await loginSession(t, user.name, user.password);
    const sessions = await t.api<{ sessions: { id: string; user: string }[] }>('GET', '/v1/sessions');
    const id = revoked.split('_')[1];
    assert.ok(
      sessions.json.sessions.some((s) => s.id === id && s.user === user.name),
      'the session is listed by its id',
    );
    assert.equal((await t.api('DELETE', `/v1/sessions/${id}`)).status, 204);
    assertError(await t.api('GET', '/v1/whoami', undefined, { token: revoked }), 401, 'UNAUTHENTICATED');
    assert.equal((await t.api('GET', '/v1/whoami', undefined, { token: kept })).status, 200, 'only that session was revoked');
    assert.equal((await t.api('POST', '/v1/logout', undefined, { token: kept })).status, 204);
    assertError(await t.api('GET', '/v1/whoami', undefined, { token: kept }), 401, 'UNAUTHENTICATED');
  });

  it('lets an admin without MFA only enrol, ask who it is and log out, until it has passed MFA', async () => {
    const user = await createUser(t, { roles: ['admin'] });
    const res = await login(t, user.name, user.password);
    assert.equal(res.status, 200, res.body);
    assert.equal(res.json.mfaEnrollmentRequired, true);
    const session = res.json.token;
    for (const [method, url, body] of [
      ['GET', '/v1/nodes', undefined],
      ['GET', '/v1/cluster', undefined],
      ['GET', '/v1/users', undefined],
      ['POST', '/v1/join-tokens', { ttlSeconds: 60 }],
      ['POST', '/v1/api-tokens', { name: 'sneaky', role: 'admin' }],
      ['GET', '/v1/audit', undefined],
      ['PUT', '/v1/roles', { yaml: 'name: x\nallow: []\ndeny: []\n' }],
    ] as const) {
      assertError(await t.api(method, url, body, { token: session }), 403, 'MFA_ENROLLMENT_REQUIRED');
    }
    const tokens = await t.api<{ tokens: { name: string }[] }>('GET', '/v1/api-tokens');
    assert.ok(!tokens.json.tokens.some((x) => x.name === 'sneaky'), 'nothing was minted');
    const who = await t.api<WhoAmI>('GET', '/v1/whoami', undefined, { token: session });
    assert.equal(who.status, 200);
    assert.equal(who.json.mfa, false);
    assert.equal(who.json.mfaEnrollmentRequired, true);

    // Logging out needs no MFA either.
    const other = await loginSession(t, user.name, user.password);
    assert.equal((await t.api('POST', '/v1/logout', undefined, { token: other })).status, 204);

    const secret = await enrollMfa(t, session, clock);
    assertError(await t.api('GET', '/v1/whoami', undefined, { token: session }), 401, 'UNAUTHENTICATED');
    const withMfa = await loginSession(t, user.name, user.password, nextTotp(secret, clock));
    assert.equal((await t.api('GET', '/v1/nodes', undefined, { token: withMfa })).status, 200);
    assert.equal((await t.api<WhoAmI>('GET', '/v1/whoami', undefined, { token: withMfa })).json.mfaEnrollmentRequired, false);
  });

  it('does not let a caller mint an API token for a role it does not hold', async () => {
    const applied = await t.api('PUT', '/v1/roles', { yaml: 'name: token-minter\nallow:\n  - { resources: [api-tokens], verbs: [create, list] }\ndeny: []\n' });
    assert.equal(applied.status, 200, applied.body);
    // A role that may mint tokens is as strong as admin, so the server makes it require MFA.
    assert.equal((await t.api<{ requireMfa?: boolean }>('GET', '/v1/roles/token-minter')).json.requireMfa, true);
    const { session } = await userWithMfa(t, clock, { roles: ['token-minter', 'viewer'] });

    const viewer = await t.api<{ token: string; role: string }>('POST', '/v1/api-tokens', { name: 'mine', role: 'viewer' }, { token: session });
    assert.equal(viewer.status, 201, viewer.body);
    assert.equal(viewer.json.role, 'viewer');
    for (const role of ['operator', 'admin', 'auditor']) {
      const res = await t.api('POST', '/v1/api-tokens', { name: `not-mine-${role}`, role }, { token: session });
      assertError(res, 403, 'FORBIDDEN');
    }
    // The token minted is no more than its role: a viewer cannot create join tokens.
    assertError(await t.api('POST', '/v1/join-tokens', { ttlSeconds: 60 }, { token: viewer.json.token }), 403, 'FORBIDDEN');

    // The same holds for an API token that may mint tokens.
    const minter = await mintApiToken(t, 'token-minter');
    assertError(await t.api('POST', '/v1/api-tokens', { name: 'escalate', role: 'admin' }, { token: minter.token }), 403, 'FORBIDDEN');
    assert.equal((await t.api('POST', '/v1/api-tokens', { name: 'same', role: 'token-minter' }, { token: minter.token })).status, 201);

    // Without the api-tokens permission at all, an operator is refused before its roles are looked at.
    const op = await createUser(t, { roles: ['operator'] });
    const opSession = await loginSession(t, op.name, op.password);
    assertError(await t.api('POST', '/v1/api-tokens', { name: 'op', role: 'operator' }, { token: opSession }), 403, 'FORBIDDEN');
  });

  it('rate-limits failed logins per account with growing backoff: 429 with retry-after, even for the right password', async () => {
    const user = await createUser(t, { roles: ['viewer'] });
    const failures: number[] = [];
    let limited: Awaited<ReturnType<typeof login>> | undefined;
    // A different source each time: only the per-account limit can apply.
    for (let i = 0; i < 20 && !limited; i++) {
      const res = await login(t, user.name, `wrong-password-${i}`, undefined, { remoteAddress: `10.4.0.${i + 1}` });
      if (res.status === 429) limited = res;
      else failures.push(res.status);
    }
    assert.ok(limited, 'a 429 came within 20 attempts');
    assert.ok(failures.length >= 5, `the first failures are free (${failures.length} before the limit)`);
    assert.ok(
      failures.every((s) => s === 401),
      `plain refusals before the limit: ${failures.join(',')}`,
    );
    assertError(limited, 429, 'RATE_LIMITED');
    const retry = Number(limited.headers['retry-after']);
    assert.ok(Number.isInteger(retry) && retry >= 1, `retry-after is a whole number of seconds (${String(limited.headers['retry-after'])})`);

    // Still within the wait (the server clock is held back to make sure): the right password is refused too.
    clock.offsetMs -= 10_000;
    try {
      assertError(await login(t, user.name, user.password, undefined, { remoteAddress: '10.4.1.1' }), 429, 'RATE_LIMITED');
    } finally {
      clock.offsetMs += 10_000;
    }
    // After the longest backoff (15 minutes) the account may try again.
    clock.offsetMs += 15 * 60_000 + 1000;
    const ok = await login(t, user.name, user.password, undefined, { remoteAddress: '10.4.1.1' });
    assert.equal(ok.status, 200, ok.body);

    const audit = await t.server.audit.list({ actor: user.name, action: 'login', limit: 100 });
    assert.ok(
      audit.some((e) => e.decision === 'deny' && e.details.reason === 'rate limited'),
      'a rate-limited login is audited',
    );
  });

  it('rate-limits failed logins per source address', async () => {
    const src = { remoteAddress: '10.5.0.1' };
    let limited = false;
    for (let i = 0; i < 30 && !limited; i++) {
      const res = await login(t, uniqueName('guess'), 'not-the-password', undefined, src);
      limited = res.status === 429;
      if (!limited) assertError(res, 401, 'UNAUTHENTICATED');
    }
    assert.ok(limited, 'one source guessing many accounts is limited');
    const user = await createUser(t, { roles: ['viewer'] });
    clock.offsetMs -= 10_000;
    try {
      assertError(await login(t, user.name, user.password, undefined, src), 429, 'RATE_LIMITED');
    } finally {
      clock.offsetMs += 10_000;
    }
    const elsewhere = await login(t, user.name, user.password, undefined, { remoteAddress: '10.5.0.2' });
    assert.equal(elsewhere.status, 200, 'another source is not affected');
  });
});

describe('identity: expiry', () => {
  const clock = new ShiftedClock();
  let t: TestServer;

  before(async () => {
    t = await startTestServer({ clock, sessionTtlMs: 120_000 });
  });
  after(async () => {
    await t?.close();
  });

  it('refuses an API token after its TTL and a session after the session lifetime', async () => {
    const token = await mintApiToken(t, 'viewer', { ttlSeconds: 60 });
    assert.ok(token.expiresAt !== null && token.expiresAt > clock.now());
    const forever = await mintApiToken(t, 'viewer');
    const user = await createUser(t, { roles: ['viewer'] });
    const session = await loginSession(t, user.name, user.password);
    for (const credential of [token.token, forever.token, session]) {
      assert.equal((await t.api('GET', '/v1/nodes', undefined, { token: credential })).status, 200);
    }

    clock.offsetMs += 61_000;
    assertError(await t.api('GET', '/v1/nodes', undefined, { token: token.token }), 401, 'UNAUTHENTICATED');
    assert.equal((await t.api('GET', '/v1/nodes', undefined, { token: session })).status, 200, 'the session has a minute left');

    clock.offsetMs += 60_000;
    assertError(await t.api('GET', '/v1/nodes', undefined, { token: session }), 401, 'UNAUTHENTICATED');
    assert.equal((await t.api('GET', '/v1/nodes', undefined, { token: forever.token })).status, 200, 'a token without a TTL does not expire');
    const sessions = await t.api<{ sessions: { user: string }[] }>('GET', '/v1/sessions');
    assert.ok(!sessions.json.sessions.some((s) => s.user === user.name), 'an expired session is not listed as live');
  });
});

describe('identity: the bootstrap admin token', () => {
  const clock = new ShiftedClock();
  let t: TestServer;

  before(async () => {
    t = await startTestServer({ clock });
  });
  after(async () => {
    await t?.close();
  });

  it('cannot be revoked until an admin user with MFA exists, then can', async () => {
    const tokens = await t.api<{ tokens: { id: string; name: string; role: string }[] }>('GET', '/v1/api-tokens');
    const bootstrap = tokens.json.tokens.find((x) => x.name === 'bootstrap-admin');
    assert.ok(bootstrap, 'the bootstrap token is listed');
    assert.equal(bootstrap.role, 'admin');
    assertError(await t.api('DELETE', `/v1/api-tokens/${bootstrap.id}`), 409, 'CONFLICT');

    // An admin who has not enrolled MFA is not enough …
    const admin = await createUser(t, { roles: ['admin'] });
    const session = await loginSession(t, admin.name, admin.password);
    assertError(await t.api('DELETE', `/v1/api-tokens/${bootstrap.id}`), 409, 'CONFLICT');
    // … nor one with MFA who is locked.
    const lockedAdmin = await userWithMfa(t, clock);
    assert.equal((await t.api('POST', `/v1/users/${lockedAdmin.name}/lock`)).status, 200);
    assertError(await t.api('DELETE', `/v1/api-tokens/${bootstrap.id}`), 409, 'CONFLICT');
    assert.equal((await t.api('GET', '/v1/nodes')).status, 200, 'the bootstrap token still works');

    const secret = await enrollMfa(t, session, clock);
    const withMfa = await loginSession(t, admin.name, admin.password, nextTotp(secret, clock));
    const revoked = await t.api('DELETE', `/v1/api-tokens/${bootstrap.id}`, undefined, { token: withMfa });
    assert.equal(revoked.status, 204, revoked.body);
    assertError(await t.api('GET', '/v1/nodes'), 401, 'UNAUTHENTICATED');
    assert.equal((await t.api('GET', '/v1/nodes', undefined, { token: withMfa })).status, 200);
  });
});

/** Every row of every table of the server's PostgreSQL schema, as text. */
async function postgresDump(schema: string): Promise<string> {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    const tables = await client.query<{ table_name: string }>('select table_name from information_schema.tables where table_schema = $1', [schema]);
    let out = '';
    for (const { table_name: table } of tables.rows) {
      const rows = await client.query<{ row: string }>(`select t::text as row from "${schema}"."${table}" t`);
      for (const r of rows.rows) out += `${table}: ${r.row}\n`;
    }
    return out;
  } finally {
    await client.end();
  }
}

for (const tdb of testDatabases()) {
  describe(`identity: credentials are stored only as hashes (${tdb.name})`, () => {
    const clock = new ShiftedClock();
    let t: TestServer;

    before(async () => {
      t = await startTestServer({ clock, ...(tdb.kind === 'postgres' ? { database: tdb } : {}) });
    });
    after(async () => {
      await t?.close();
    });

    it('the database holds no raw token, session, password or TOTP secret, but does hold scrypt hashes', async () => {
      const password = `correct-horse-${uniqueName('battery')}`;
      const user = await createUser(t, { roles: ['operator'], password });
      const first = await loginSession(t, user.name, password);
      const totpSecret = await enrollMfa(t, first, clock);
      const session = await loginSession(t, user.name, password, nextTotp(totpSecret, clock));
      const apiToken = (await mintApiToken(t, 'viewer')).token;
      const joinToken = (await t.createJoinToken({ uses: 3 })).token;
      const admin = await userWithMfa(t, clock);
      // Use them, so last-used times and audit entries are written too.
      for (const credential of [session, apiToken, admin.session]) assert.equal((await t.api('GET', '/v1/nodes', undefined, { token: credential })).status, 200);

      let text: string;
      let bytes: Buffer;
      if (tdb.kind === 'sqlite') {
        const base = join(t.dataDir, 'bulwark.db');
        const parts = await Promise.all([base, `${base}-wal`, `${base}-shm`].map((f) => readFile(f).catch(() => Buffer.alloc(0))));
        assert.ok((parts[0]?.length ?? 0) + (parts[1]?.length ?? 0) > 0, 'the database file was read');
        bytes = Buffer.concat(parts);
        text = bytes.toString('latin1');
      } else {
        const schema = t.server.options.dbSchema;
        assert.ok(schema, 'the PostgreSQL server runs in a schema of its own');
        text = await postgresDump(schema);
        bytes = Buffer.from(text, 'utf8');
      }

      const secrets: Record<string, string> = {
        'bootstrap admin token': t.adminToken,
        'API token': apiToken,
        session,
        'first session': first,
        'admin session': admin.session,
        'join token': joinToken,
        password,
        'admin password': admin.password,
        'TOTP secret (base32)': base32Encode(totpSecret),
        'TOTP secret (hex)': totpSecret.toString('hex'),
      };
      for (const [what, value] of Object.entries(secrets)) {
        assert.ok(!text.includes(value), `the ${what} is not in the database`);
        // The random part of a bearer token, on its own, is not there either.
        const secretPart = value.split('_').slice(2).join('_'); // the base64url secret may itself hold "_"
        if (/^bw[a-z]_/.test(value) || value === joinToken) assert.ok(!text.includes(secretPart), `the secret part of the ${what} is not in the database`);
      }
      assert.equal(bytes.indexOf(totpSecret), -1, 'the raw TOTP secret bytes are not in the database');
      // The search does find what is stored in the clear: the user and the tokens' ids.
      assert.ok(text.includes(user.name), 'the user name is in the database');
      assert.ok(text.includes(apiToken.split('_')[1] ?? '-'), 'the API token id is in the database');
      assert.ok(text.includes(session.split('_')[1] ?? '-'), 'the session id is in the database');
      assert.ok(text.includes('scrypt$'), 'password hashes (scrypt$…) are in the database');
    });
  });
}
