/**
 * The audit log as the API writes and checks it, against a real server: every
 * authenticated request and every denial leaves an entry, so do logins, joins
 * and node removals; `GET /v1/audit/verify` and `bulwark auditlog verify` name the
 * first bad entry after the database is tampered with behind the server's back;
 * secrets never reach the log; and a log that cannot be written fails the
 * request instead of letting it act unrecorded.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { base32Decode } from '../src/access/totp.js';
import { chainNext } from '../src/auditlog/chain.js';
import type { AuditEntry } from '../src/auditlog/entry.js';
import type { AuditEntryView, AuditVerifyView } from '../src/protocol/audit.js';
import { testDatabases, type TestDatabase } from '../src/store/test-databases.js';
import {
  createUser,
  enroll,
  enrollMfa,
  joinAgent,
  login,
  loginSession,
  mintApiToken,
  nextTotp,
  openRawDb,
  ShiftedClock,
  spawnCli,
  startTestServer,
  uniqueName,
  type ErrorJson,
  type RawDb,
  type TestServer,
} from './harness.js';

async function auditEntries(t: TestServer, query = ''): Promise<AuditEntryView[]> {
  const res = await t.api<{ entries: AuditEntryView[] }>('GET', `/v1/audit?after=0&limit=1000${query}`);
  assert.equal(res.status, 200, res.body);
  return res.json.entries;
}

async function verifyApi(t: TestServer, token?: string): Promise<AuditVerifyView> {
  const res = await t.api<AuditVerifyView>('GET', '/v1/audit/verify', undefined, token === undefined ? {} : { token });
  assert.equal(res.status, 200, res.body);
  return res.json;
}

/** `bulwark auditlog verify` from source against the test server, as the bootstrap admin. */
async function verifyCli(t: TestServer): Promise<{ code: number | null; output: string }> {
  const run = spawnCli(['auditlog', 'verify', '--server', t.server.apiUrl, '--data-dir', t.dataDir]);
  const { code } = await run.exited;
  return { code, output: run.output() };
}

function startOptions(tdb: TestDatabase, extra: { clock?: ShiftedClock } = {}) {
  return { ...extra, ...(tdb.kind === 'postgres' ? { database: tdb } : {}) };
}

for (const tdb of testDatabases()) {
  describe(`audit log through the API (${tdb.name})`, () => {
    describe('what is recorded', () => {
      const clock = new ShiftedClock();
      let t: TestServer;
      before(async () => {
        t = await startTestServer(startOptions(tdb, { clock }));
      });
      after(async () => {
        await t?.close();
      });

      it('records every authenticated request and every denial, anonymous ones included', async () => {
        const viewer = await mintApiToken(t, 'viewer', { name: uniqueName('audited-viewer') });
        const operator = await mintApiToken(t, 'operator', { name: uniqueName('audited-operator') });
        assert.equal((await t.api('GET', '/v1/nodes', undefined, { token: viewer.token })).status, 200);
        assert.equal((await t.api('GET', '/v1/nodes/no-such-node', undefined, { token: viewer.token })).status, 404);
        assert.equal((await t.api('POST', '/v1/join-tokens', { ttlSeconds: 60 }, { token: viewer.token })).status, 403);
        assert.equal((await t.api('POST', '/v1/join-tokens', { ttlSeconds: 60 }, { token: operator.token })).status, 201);
        assert.equal((await t.api('GET', '/v1/nodes', undefined, { token: null, remoteAddress: '10.7.0.1' })).status, 401);
        assert.equal((await t.api('GET', '/v1/users', undefined, { token: 'bwt_aaaaaaaaaaaaaaaa_' + 'A'.repeat(43), remoteAddress: '10.7.0.2' })).status, 401);

        const entries = await auditEntries(t);
        const mine = (actor: string) => entries.filter((e) => e.actor === actor);

        const v = mine(`token:${viewer.name}`);
        const list = v.find((e) => e.action === 'nodes.list');
        assert.ok(list, 'the allowed GET /v1/nodes is recorded');
        assert.equal(list.resource, '/v1/nodes');
        assert.equal(list.decision, 'allow');
        assert.equal(list.outcome, 'success');
        assert.equal(list.source, '127.0.0.1');
        assert.equal(list.details.status, 200);
        assert.equal(list.details.method, 'GET');
        const missing = v.find((e) => e.action === 'nodes.read');
        assert.ok(missing, 'an allowed request that fails is recorded');
        assert.deepEqual([missing.decision, missing.outcome, missing.details.status], ['allow', 'failure', 404]);
        const denied = v.find((e) => e.action === 'join-tokens.create');
        assert.ok(denied, 'the denied POST /v1/join-tokens is recorded');
        assert.deepEqual([denied.decision, denied.outcome, denied.details.errorCode], ['deny', 'failure', 'FORBIDDEN']);

        // A mutating request is recorded before it acts and again when it has.
        const created = mine(`token:${operator.name}`).filter((e) => e.action === 'join-tokens.create');
        assert.deepEqual(
          created.map((e) => [e.decision, e.outcome, e.details.phase]),
          [
            ['allow', 'success', 'started'],
            ['allow', 'success', 'finished'],
          ],
        );
        assert.equal(created[0]?.requestId, created[1]?.requestId, 'both halves share the request id');
        assert.equal(created[1]?.details.status, 201);

        const anonymous = mine('anonymous');
        const noCredential = anonymous.find((e) => e.source === '10.7.0.1');
        assert.ok(noCredential, 'a request without credentials is recorded');
        assert.deepEqual([noCredential.action, noCredential.resource, noCredential.decision, noCredential.details.errorCode], ['nodes.list', '/v1/nodes', 'deny', 'UNAUTHENTICATED']);
        const badCredential = anonymous.find((e) => e.source === '10.7.0.2');
        assert.ok(badCredential, 'a request with a bad token is recorded');
        assert.deepEqual([badCredential.action, badCredential.decision, badCredential.details.errorCode], ['users.list', 'deny', 'UNAUTHENTICATED']);

        // Seqs are dense and the entries chain.
        entries.forEach((e, i) => {
          assert.equal(e.seq, i + 1);
          if (i > 0) assert.equal(e.prevHash, entries[i - 1]?.hash);
        });
      });

      it('records logins that succeed and logins that fail', async () => {
        const user = await createUser(t, { roles: ['viewer'] });
        const ghost = uniqueName('ghost');
        assert.equal((await login(t, user.name, 'definitely-not-it', undefined, { remoteAddress: '10.7.1.1' })).status, 401);
        assert.equal((await login(t, ghost, 'whatever-password', undefined, { remoteAddress: '10.7.1.1' })).status, 401);
        assert.equal((await login(t, user.name, user.password, undefined, { remoteAddress: '10.7.1.2' })).status, 200);
        const entries = (await auditEntries(t, '&action=login')).filter((e) => e.actor === user.name || e.actor === ghost);
        assert.deepEqual(
          entries.map((e) => [e.actor, e.action, e.resource, e.decision, e.outcome, e.source, e.details.reason]),
          [
            [user.name, 'login', '/v1/login', 'deny', 'failure', '10.7.1.1', 'bad user name or password'],
            [ghost, 'login', '/v1/login', 'deny', 'failure', '10.7.1.1', 'bad user name or password'],
            [user.name, 'login', '/v1/login', 'allow', 'success', '10.7.1.2', 'password'],
          ],
        );
      });

      it('records agent joins (actor agent-join), refused joins and node removals', async () => {
        const agent = await joinAgent(t, { labels: { env: 'audit' } });
        try {
          const joined = (await auditEntries(t, '&actor=agent-join')).find((e) => e.resource === `/v1/nodes/${agent.nodeId}`);
          assert.ok(joined, 'the join is recorded');
          assert.deepEqual([joined.action, joined.decision, joined.outcome], ['nodes.join', 'allow', 'success']);
          assert.deepEqual(joined.details.labels, { env: 'audit' });

          const revoked = await t.createJoinToken();
          assert.equal((await t.api('DELETE', `/v1/join-tokens/${revoked.id}`)).status, 204);
          await assert.rejects(enroll(t, { token: revoked.token }));
          const refused = (await auditEntries(t, '&actor=agent-join')).filter((e) => e.decision === 'deny');
          assert.ok(refused.length >= 1, 'the refused join is recorded');
          assert.deepEqual([refused.at(-1)?.resource, refused.at(-1)?.outcome], ['/v1/join', 'failure']);
          assert.match(String(refused.at(-1)?.details.errorCode), /^[A-Z_]+$/, 'the reason is recorded');

          const removed = await t.api('DELETE', `/v1/nodes/${agent.nodeId}`);
          assert.equal(removed.status, 200, removed.body);
          const removal = (await auditEntries(t, '&action=nodes.delete')).filter((e) => e.resource === `/v1/nodes/${agent.nodeId}`);
          assert.deepEqual(
            removal.map((e) => [e.actor, e.decision, e.outcome, e.details.phase]),
            [
              ['token:bootstrap-admin', 'allow', 'success', 'started'],
              ['token:bootstrap-admin', 'allow', 'success', 'finished'],
            ],
          );
        } finally {
          await agent.close();
        }
      });

      it('verifies as intact through the API (an auditor may) and the CLI', async () => {
        const auditor = await mintApiToken(t, 'auditor');
        const result = await verifyApi(t, auditor.token);
        assert.equal(result.ok, true, JSON.stringify(result));
        if (!result.ok) return;
        assert.ok(result.entries > 10);
        assert.equal(result.lastSeq, result.entries);
        assert.match(result.keyId, /^[0-9a-f]{16}$/);
        const cli = await verifyCli(t);
        assert.equal(cli.code, 0, cli.output);
        assert.match(cli.output, /Audit log intact: \d+ entries/);
      });

      it('never holds a secret: passwords, tokens, TOTP secrets and codes stay out of every entry', async () => {
        const password = `s3cret-${uniqueName('pw')}`;
        const newPassword = `n3w-${uniqueName('pw')}`;
        const wrongPassword = `wr0ng-${uniqueName('pw')}`;
        const user = await createUser(t, { roles: ['operator'], password });
        assert.equal((await login(t, user.name, wrongPassword, undefined, { remoteAddress: '10.7.2.1' })).status, 401);
        const first = await loginSession(t, user.name, password);
        const begun = await t.api<{ secret: string }>('POST', '/v1/mfa/enroll', undefined, { token: first });
        assert.equal(begun.status, 200);
        const totpSecret = base32Decode(begun.json.secret);
        const confirmCode = nextTotp(totpSecret, clock);
        assert.equal((await t.api('POST', '/v1/mfa/confirm', { code: confirmCode }, { token: first })).status, 204);
        const loginCode = nextTotp(totpSecret, clock);
        const session = await loginSession(t, user.name, password, loginCode);
        assert.equal((await t.api('PUT', `/v1/users/${user.name}/password`, { password: newPassword })).status, 204);
        const generated = await t.api<{ password: string }>('POST', '/v1/users', { name: uniqueName('gen'), roles: ['viewer'] });
        assert.equal(generated.status, 201);
        const apiToken = await mintApiToken(t, 'viewer');
        const joinToken = await t.createJoinToken();
        // Secrets pasted where an id belongs end up in the request path.
        await t.api('DELETE', `/v1/api-tokens/${apiToken.token}`);
        await t.api('DELETE', `/v1/join-tokens/${joinToken.token}`);
        await t.api('GET', `/v1/nodes/${session}`, undefined, { token: session });
        // And a second admin user with MFA, whose session is then used.
        const otherAdmin = await createUser(t, { roles: ['admin'] });
        const adminFirst = await loginSession(t, otherAdmin.name, otherAdmin.password);
        const adminSecret = await enrollMfa(t, adminFirst, clock);
        const adminSession = await loginSession(t, otherAdmin.name, otherAdmin.password, nextTotp(adminSecret, clock));
        assert.equal((await t.api('GET', '/v1/nodes', undefined, { token: adminSession })).status, 200);

        const secrets: Record<string, string> = {
          password,
          'new password': newPassword,
          'wrong password': wrongPassword,
          'generated password': generated.json.password,
          'admin password': otherAdmin.password,
          'first session': first,
          session,
          'admin session': adminSession,
          'API token': apiToken.token,
          'join token': joinToken.token,
          'bootstrap admin token': t.adminToken,
          'TOTP secret': begun.json.secret,
          'admin TOTP secret': Buffer.from(adminSecret).toString('hex'),
          'confirmation code': confirmCode,
          'login code': loginCode,
        };
        const exported = await t.api('GET', '/v1/audit/export?format=jsonl');
        assert.equal(exported.status, 200);
        const db = await openRawDb(t);
        let raw: string;
        try {
          raw = JSON.stringify(await db.all('select * from audit_entries'));
        } finally {
          await db.close();
        }
        assert.ok(raw.includes(user.name) && exported.body.includes(user.name), 'the entries about the user are there');
        // A token pasted into the path is recorded with the token cut out.
        for (const path of ['/v1/api-tokens/[redacted]', '/v1/join-tokens/[redacted]', '/v1/nodes/[redacted]']) {
          assert.ok(raw.includes(`"${path}"`), `${path} is recorded`);
        }
        for (const [what, value] of Object.entries(secrets)) {
          assert.ok(value.length >= 6, `${what} is a real value`);
          // Codes are six digits: look for them only where a code could be written.
          if (/^\d{6}$/.test(value)) {
            assert.doesNotMatch(raw, new RegExp(`"${value}"|:${value}[,}]`), `the ${what} is not in the audit log`);
            continue;
          }
          assert.ok(!raw.includes(value), `the ${what} is not in the audit log (database)`);
          assert.ok(!exported.body.includes(value), `the ${what} is not in the audit log (export)`);
          // <prefix>_<id>_<secret>: the secret is base64url and may itself hold "_".
          const secretPart = value.split('_').slice(2).join('_');
          if (/^bw[a-z]_/.test(value)) assert.ok(!raw.includes(secretPart), `the secret part of the ${what} is not in the audit log`);
        }
        assert.equal((await verifyApi(t)).ok, true);
      });
    });

    describe('tampering in the database is reported with the first bad seq', () => {
      interface Tampered {
        t: TestServer;
        db: RawDb;
        auditor: string;
        /** The seq of the last signed checkpoint. */
        checkpoint: number;
        /** The seq of the last entry. */
        last: number;
      }

      /** A fresh server with a log of ~130 entries and a checkpoint at seq 100. */
      async function tamperable(): Promise<Tampered> {
        const t = await startTestServer(startOptions(tdb));
        try {
          const auditor = (await mintApiToken(t, 'auditor')).token;
          for (let i = 0; i < 130; i++) assert.equal((await t.api('GET', '/v1/nodes', undefined, { token: auditor })).status, 200);
          const db = await openRawDb(t);
          const [cp] = await db.all<{ seq: number | string }>('select max(seq) as seq from audit_checkpoints');
          const checkpoint = Number(cp?.seq);
          assert.equal(checkpoint, 100, 'a checkpoint was signed at seq 100');
          const ok = await verifyApi(t, auditor);
          assert.equal(ok.ok, true, JSON.stringify(ok));
          // The verify request itself was recorded after it answered: read the last seq now.
          const [last] = await db.all<{ seq: number | string }>('select max(seq) as seq from audit_entries');
          return { t, db, auditor, checkpoint, last: Number(last?.seq) };
        } catch (err) {
          await t.close();
          throw err;
        }
      }

      async function expectFirstBad(s: Tampered, seq: number, kind?: string): Promise<void> {
        const result = await verifyApi(s.t, s.auditor);
        assert.equal(result.ok, false, `tampering went unnoticed: ${JSON.stringify(result)}`);
        if (result.ok) return;
        assert.equal(result.firstBad.seq, seq, JSON.stringify(result.firstBad));
        if (kind !== undefined) assert.equal(result.firstBad.kind, kind, JSON.stringify(result.firstBad));
        const cli = await verifyCli(s.t);
        assert.notEqual(cli.code, 0, `bulwark auditlog verify exits non-zero: ${cli.output}`);
        assert.match(cli.output, new RegExp(`first bad entry seq ${seq} \\(`), cli.output);
      }

      async function done(s: Tampered): Promise<void> {
        await s.db.close();
        await s.t.close();
      }

      async function entryAt(s: Tampered, seq: number): Promise<AuditEntry> {
        const [row] = await s.db.all<Record<string, string | number>>('select * from audit_entries where seq = ?', [seq]);
        assert.ok(row, `entry ${seq} exists`);
        return {
          seq: Number(row.seq),
          time: Number(row.time),
          actor: String(row.actor),
          action: String(row.action),
          resource: String(row.resource),
          decision: row.decision as AuditEntry['decision'],
          source: String(row.source),
          requestId: String(row.request_id),
          outcome: row.outcome as AuditEntry['outcome'],
          details: JSON.parse(String(row.details)) as Record<string, unknown>,
          prevHash: String(row.prev_hash),
          hash: String(row.hash),
        };
      }

      async function insertRow(s: Tampered, e: AuditEntry): Promise<void> {
        await s.db.run(
          'insert into audit_entries (seq, time, actor, action, resource, decision, source, request_id, outcome, details, prev_hash, hash) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
          [e.seq, e.time, e.actor, e.action, e.resource, e.decision, e.source, e.requestId, e.outcome, JSON.stringify(e.details), e.prevHash, e.hash],
        );
      }

      /** Moves entries from `from` on by `by` seqs (through negative seqs, so the primary key never collides). */
      async function shift(s: Tampered, from: number, by: number): Promise<void> {
        await s.db.run('update audit_entries set seq = -(seq + ?) where seq >= ?', [by, from]);
        await s.db.run('update audit_entries set seq = -seq where seq < 0');
      }

      const forged = (like: AuditEntry): Omit<AuditEntry, 'seq' | 'prevHash' | 'hash'> => ({
        time: like.time,
        actor: 'mallory',
        action: 'nodes.delete',
        resource: '/v1/nodes/db-1',
        decision: 'allow',
        source: '203.0.113.7',
        requestId: 'forged',
        outcome: 'success',
        details: {},
      });

      it('an entry modified', async () => {
        const s = await tamperable();
        try {
          await s.db.run("update audit_entries set actor = 'someone-else' where seq = ?", [50]);
          await expectFirstBad(s, 50, 'modified');
        } finally {
          await done(s);
        }
      });

      it('an entry deleted', async () => {
        const s = await tamperable();
        try {
          await s.db.run('delete from audit_entries where seq = ?', [50]);
          await expectFirstBad(s, 50, 'deleted');
        } finally {
          await done(s);
        }
      });

      it('an entry inserted in the middle, properly hashed, the rest renumbered and the head moved along', async () => {
        const s = await tamperable();
        try {
          const before = await entryAt(s, 49);
          await shift(s, 50, 1);
          await insertRow(s, chainNext(before, forged(before)));
          // Someone covering their tracks also moves the head to the new last row (they cannot re-sign it).
          const last = await entryAt(s, s.last + 1);
          const [headRow] = await s.db.all<{ value: string }>("select value from cluster_state where key = 'audit.head'");
          const head = JSON.parse(headRow?.value ?? '{}') as Record<string, unknown>;
          await s.db.run("update cluster_state set value = ? where key = 'audit.head'", [JSON.stringify({ ...head, seq: last.seq, hash: last.hash })]);
          await expectFirstBad(s, 50, 'inserted');
        } finally {
          await done(s);
        }
      });

      it('an entry inserted at the end: the server refuses to write after it (fail closed) and the log reports it', async () => {
        const s = await tamperable();
        try {
          const last = await entryAt(s, s.last);
          await insertRow(s, chainNext(last, forged(last)));
          // The writer will not chain onto rows it did not write: every audited request now fails.
          const refused = await s.t.api<ErrorJson>('GET', '/v1/nodes', undefined, { token: s.auditor });
          assert.equal(refused.status, 503, refused.body);
          const result = await s.t.server.audit.verify();
          assert.equal(result.ok, false);
          if (!result.ok) assert.deepEqual([result.firstBad.seq, result.firstBad.kind], [s.last + 1, 'inserted']);
        } finally {
          await done(s);
        }
      });

      it('two entries swapped', async () => {
        const s = await tamperable();
        try {
          await s.db.run('update audit_entries set seq = -1 where seq = ?', [60]);
          await s.db.run('update audit_entries set seq = 60 where seq = ?', [61]);
          await s.db.run('update audit_entries set seq = 61 where seq = -1');
          await expectFirstBad(s, 60, 'reordered');
        } finally {
          await done(s);
        }
      });

      it('the tail cut after the last checkpoint', async () => {
        const s = await tamperable();
        try {
          const cut = s.checkpoint + 10;
          await s.db.run('delete from audit_entries where seq > ?', [cut]);
          await expectFirstBad(s, cut + 1, 'truncated');
        } finally {
          await done(s);
        }
      });
    });

    describe('a log that cannot be written fails the request (fail closed)', () => {
      let t: TestServer;
      let db: RawDb;
      before(async () => {
        t = await startTestServer(startOptions(tdb));
        db = await openRawDb(t);
      });
      after(async () => {
        await db?.close();
        await t?.close();
      });

      async function breakAuditWrites(): Promise<void> {
        if (db.kind === 'sqlite') {
          await db.exec("create trigger audit_write_fails before insert on audit_entries begin select raise(fail, 'audit write refused by the test'); end;");
        } else {
          await db.exec(`
            create function audit_write_fails() returns trigger language plpgsql as $$ begin raise exception 'audit write refused by the test'; end $$;
            create trigger audit_write_fails before insert on audit_entries for each row execute function audit_write_fails();`);
        }
      }

      async function repairAuditWrites(): Promise<void> {
        if (db.kind === 'sqlite') await db.exec('drop trigger audit_write_fails;');
        else await db.exec('drop trigger audit_write_fails on audit_entries; drop function audit_write_fails();');
      }

      const count = async (table: string): Promise<number> => Number((await db.all<{ n: number | string }>(`select count(*) as n from ${table}`))[0]?.n);

      it('refuses writes, reads, logins and denials with 503, and nothing takes effect', async () => {
        const user = await createUser(t, { roles: ['viewer'] });
        const viewer = await mintApiToken(t, 'viewer');
        const node = await enroll(t, { labels: { env: 'closed' } });
        const spareJoinToken = await t.createJoinToken();
        const joinTokensBefore = await count('join_tokens');
        const apiTokensBefore = await count('api_tokens');
        const entriesBefore = await count('audit_entries');

        await breakAuditWrites();
        try {
          const unavailable = (res: { status: number; body: string; json: unknown }, what: string): void => {
            assert.equal(res.status, 503, `${what}: ${res.body}`);
            assert.match((res.json as ErrorJson).error.code, /UNAVAILABLE$/, what);
          };
          const created = await t.api<ErrorJson & { token?: string }>('POST', '/v1/join-tokens', { ttlSeconds: 60 });
          unavailable(created, 'POST /v1/join-tokens');
          assert.equal(created.json.token, undefined, 'no token handed out');
          assert.equal(await count('join_tokens'), joinTokensBefore, 'no join token was created');

          unavailable(await t.api('POST', '/v1/api-tokens', { name: 'unrecorded', role: 'viewer' }), 'POST /v1/api-tokens');
          assert.equal(await count('api_tokens'), apiTokensBefore, 'no API token was created');

          unavailable(await t.api('DELETE', `/v1/nodes/${node.identity.nodeId}`), 'DELETE /v1/nodes/:node');
          const read = await t.api<{ nodes?: unknown[] }>('GET', '/v1/nodes');
          unavailable(read, 'GET /v1/nodes');
          assert.equal(read.json.nodes, undefined, 'no data in the refusal');
          unavailable(await t.api('GET', '/v1/nodes', undefined, { token: viewer.token }), 'GET /v1/nodes as a viewer');
          unavailable(await t.api('POST', '/v1/join-tokens', { ttlSeconds: 60 }, { token: viewer.token }), 'a denial');
          unavailable(await t.api('GET', '/v1/nodes', undefined, { token: null }), 'an anonymous request');

          const loggedIn = await login(t, user.name, user.password, undefined, { remoteAddress: '10.8.0.1' });
          unavailable(loggedIn, 'a login with the right password');
          assert.equal(loggedIn.json.token, undefined, 'no session handed out');
          unavailable(await login(t, user.name, 'not-the-password', undefined, { remoteAddress: '10.8.0.1' }), 'a failed login');

          await assert.rejects(enroll(t, { token: spareJoinToken.token }), 'an agent join fails too');
          assert.equal(await count('audit_entries'), entriesBefore, 'nothing was written to the log');
        } finally {
          await repairAuditWrites();
        }

        // Nothing above took effect, and the server works again once the log can be written.
        const still = await t.api<{ state: string }>('GET', `/v1/nodes/${node.identity.nodeId}`);
        assert.equal(still.status, 200, still.body);
        assert.notEqual(still.json.state, 'removed', 'the node was not removed');
        assert.equal((await t.api('POST', '/v1/join-tokens', { ttlSeconds: 60 })).status, 201);
        assert.equal((await login(t, user.name, user.password, undefined, { remoteAddress: '10.8.0.2' })).status, 200);
        assert.equal((await verifyApi(t)).ok, true, 'the log has no gap');
      });

      it(
        'an agent join refused for want of an audit log leaves no node behind and spends no token use',
        async () => {
          const token = await t.createJoinToken({ uses: 1 });
          const nodesBefore = await count('nodes');
          await breakAuditWrites();
          try {
            await assert.rejects(enroll(t, { token: token.token }));
          } finally {
            await repairAuditWrites();
          }
          assert.equal(await count('nodes'), nodesBefore, 'no node was added');
          const [row] = await db.all<{ uses_count: number | string }>('select uses_count from join_tokens where id = ?', [token.id]);
          assert.equal(Number(row?.uses_count), 0, 'the token use was not spent');
        },
      );
    });
  });
}
