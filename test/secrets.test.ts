/**
 * The versioned secrets store against a real server: the API (values base64,
 * versions, rollback, delete, destroy, retention), path-scoped roles, the audit
 * log never holding a value, the keyring re-wrap covering stored values, and the
 * CLI as a child process. On every database.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { request as httpsRequest } from 'node:https';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SecretRemovedSchema, SecretValueSchema, SecretVersionsSchema, SecretWrittenSchema, SecretListSchema } from '../src/protocol/secrets.js';
import type { z } from 'zod';
import { testDatabases, type TestDatabase } from '../src/store/test-databases.js';
import { CLI_ENTRY, createUser, loginSession, mintApiToken, openRawDb, REPO_ROOT, startTestServer, uniqueName, type ErrorJson, type TestServer } from './harness.js';

type Written = z.infer<typeof SecretWrittenSchema>;
type Value = z.infer<typeof SecretValueSchema>;
type Versions = z.infer<typeof SecretVersionsSchema>;
type Removed = z.infer<typeof SecretRemovedSchema>;
type List = z.infer<typeof SecretListSchema>;

/** A value no test writes anywhere but into a secret: finding it anywhere else is a leak. */
const MARKER = `leak-marker-${randomBytes(8).toString('hex')}`;
const b64 = (value: string | Buffer): string => Buffer.from(value).toString('base64');

function startOptions(tdb: TestDatabase) {
  return tdb.kind === 'postgres' ? { database: tdb } : {};
}

function code(res: { json: unknown }): string | undefined {
  return (res.json as ErrorJson | undefined)?.error?.code;
}

/** Every form the marker could take in a log: raw, base64 (of the value, and of a value that starts with it), hex. */
function leakForms(marker: string): string[] {
  const raw = Buffer.from(marker);
  return [marker, raw.toString('base64').slice(0, 16), raw.toString('hex')];
}

async function assertNoLeak(t: TestServer, what: string): Promise<void> {
  const entries = await t.api('GET', '/v1/audit?limit=1000');
  assert.equal(entries.status, 200, entries.body);
  for (const format of ['jsonl', 'cef']) {
    const exported = await t.api('GET', `/v1/audit/export?format=${format}`);
    assert.equal(exported.status, 200);
    for (const form of leakForms(MARKER)) {
      assert.ok(!exported.body.includes(form), `the ${format} audit export holds the value (${what})`);
      assert.ok(!entries.body.includes(form), `the audit entries hold the value (${what})`);
    }
  }
}

for (const tdb of testDatabases()) {
  describe(`secrets store (${tdb.name})`, () => {
    let t: TestServer;
    before(async () => {
      t = await startTestServer(startOptions(tdb));
    });
    after(async () => {
      await t?.close();
    });

    it('put, get, versions, rollback, delete and destroy through the API', async () => {
      const binary = Buffer.concat([Buffer.from(MARKER), Buffer.from([0, 1, 0xfe, 0xff, 0x0a])]);
      const put1 = await t.api<Written>('PUT', '/v1/secrets/data/app/db-password', { value: b64(binary) });
      assert.equal(put1.status, 200, put1.body);
      assert.deepEqual(put1.json, { path: 'app/db-password', version: 1, maxVersions: 10, removedVersions: [] });
      const put2 = await t.api<Written>('PUT', '/v1/secrets/data/app/db-password', { value: b64(`${MARKER}-two`) });
      assert.equal(put2.json.version, 2);

      const got = await t.api<Value>('GET', '/v1/secrets/data/app/db-password');
      assert.equal(got.status, 200, got.body);
      assert.equal(got.headers['cache-control'], 'no-store');
      assert.equal(Buffer.from(got.json.value, 'base64').toString(), `${MARKER}-two`);
      assert.equal(got.json.version, 2);
      assert.match(got.json.createdBy, /^token:/, 'the actor who wrote it');
      const old = await t.api<Value>('GET', '/v1/secrets/data/app/db-password?version=1');
      assert.deepEqual(Buffer.from(old.json.value, 'base64'), binary, 'binary-safe');

      const del = await t.api<Removed>('DELETE', '/v1/secrets/data/app/db-password');
      assert.equal(del.status, 200, del.body);
      assert.equal(del.json.version.version, 2);
      assert.equal(del.json.version.state, 'deleted');
      const gone = await t.api('GET', '/v1/secrets/data/app/db-password');
      assert.equal(gone.status, 404);
      assert.match((gone.json as ErrorJson).error.message, /version 2 of secret "app\/db-password" is deleted/);

      const back = await t.api<Written>('POST', '/v1/secrets/rollback/app/db-password', { version: 2 });
      assert.equal(back.status, 200, back.body);
      assert.equal(back.json.version, 3);
      assert.equal(Buffer.from((await t.api<Value>('GET', '/v1/secrets/data/app/db-password')).json.value, 'base64').toString(), `${MARKER}-two`);

      const destroyed = await t.api<Removed>('DELETE', '/v1/secrets/data/app/db-password?version=1&destroy=true');
      assert.equal(destroyed.json.version.state, 'destroyed');
      const raw = await openRawDb(t);
      try {
        const rows = await raw.all<{ version: number; value: string | null }>('select version, value from secret_versions where path = ? order by version', ['app/db-password']);
        assert.equal(rows[0]?.value, null, 'a destroyed value is erased from the database');
        for (const row of rows.slice(1)) {
          assert.match(row.value ?? '', /^bwe1\./, 'stored only as keyring ciphertext');
          for (const form of leakForms(MARKER)) assert.ok(!(row.value ?? '').includes(form));
        }
      } finally {
        await raw.close();
      }
      assert.equal((await t.api('POST', '/v1/secrets/rollback/app/db-password', { version: 1 })).status, 409);

      const versions = await t.api<Versions>('GET', '/v1/secrets/versions/app/db-password');
      assert.equal(versions.status, 200, versions.body);
      assert.deepEqual(
        versions.json.versions.map((v) => [v.version, v.state]),
        [
          [1, 'destroyed'],
          [2, 'deleted'],
          [3, 'live'],
        ],
      );
      assert.ok(!versions.body.includes(MARKER) && !('value' in (versions.json.versions[0] ?? {})), 'metadata only');

      const list = await t.api<List>('GET', '/v1/secrets?prefix=app/');
      assert.deepEqual(
        list.json.secrets.map((s) => [s.path, s.currentVersion, s.state]),
        [['app/db-password', 3, 'live']],
      );
      await assertNoLeak(t, 'after the API round trip');
    });

    it('keeps at most --max-versions versions', async () => {
      for (let i = 1; i <= 4; i++) {
        const res = await t.api<Written>('PUT', '/v1/secrets/data/keep/x', { value: b64(`v${i}`), ...(i === 1 ? { maxVersions: 2 } : {}) });
        assert.equal(res.status, 200, res.body);
        if (i === 4) assert.deepEqual(res.json.removedVersions, [2]);
      }
      const versions = await t.api<Versions>('GET', '/v1/secrets/versions/keep/x');
      assert.deepEqual(
        versions.json.versions.map((v) => v.version),
        [3, 4],
      );
      assert.equal(versions.json.secret.maxVersions, 2);
      assert.equal((await t.api('GET', '/v1/secrets/data/keep/x?version=1')).status, 404);
    });

    it('bad input answers 4xx with one line and never echoes the value', async () => {
      const cases: { method: string; url: string; body?: unknown; headers?: Record<string, string>; status: number; code: string; message: RegExp }[] = [
        { method: 'PUT', url: '/v1/secrets/data/app//x', body: { value: b64(MARKER) }, status: 400, code: 'BAD_REQUEST', message: /empty segment/ },
        { method: 'PUT', url: '/v1/secrets/data/', body: { value: b64(MARKER) }, status: 400, code: 'BAD_REQUEST', message: /is empty/ },
        { method: 'PUT', url: '/v1/secrets/data/app/x', body: { value: MARKER }, status: 400, code: 'BAD_REQUEST', message: /not standard base64/ },
        { method: 'PUT', url: '/v1/secrets/data/app/x', body: { value: '' }, status: 400, code: 'BAD_REQUEST', message: /empty/ },
        { method: 'PUT', url: '/v1/secrets/data/app/x', body: { value: b64(MARKER), maxVersions: 0 }, status: 400, code: 'BAD_REQUEST', message: /maxVersions/ },
        { method: 'PUT', url: '/v1/secrets/data/app/x', body: { value: b64(MARKER), max_versions: 3 }, status: 400, code: 'BAD_REQUEST', message: /max_versions|[Uu]nrecognized/ },
        { method: 'PUT', url: '/v1/secrets/data/app/x', body: `{"value": ${MARKER}}`, status: 400, code: 'BAD_REQUEST', message: /^the request body is not valid JSON$/ },
        { method: 'PUT', url: '/v1/secrets/data/app/x', body: { value: randomBytes(64 * 1024 + 1).toString('base64') }, status: 413, code: 'PAYLOAD_TOO_LARGE', message: /64 KiB/ },
        { method: 'GET', url: '/v1/secrets/data/app/x?version=zero', status: 400, code: 'BAD_REQUEST', message: /version/ },
        { method: 'GET', url: '/v1/secrets/data/no/such', status: 404, code: 'NOT_FOUND', message: /no secret "no\/such"/ },
        { method: 'GET', url: '/v1/secrets/versions/no/such', status: 404, code: 'NOT_FOUND', message: /no secret/ },
        { method: 'DELETE', url: '/v1/secrets/data/no/such', status: 404, code: 'NOT_FOUND', message: /no secret/ },
        { method: 'POST', url: '/v1/secrets/rollback/no/such', body: { version: 1 }, status: 404, code: 'NOT_FOUND', message: /no secret/ },
        { method: 'POST', url: '/v1/secrets/rollback/app/x', body: { version: -1 }, status: 400, code: 'BAD_REQUEST', message: /version/ },
      ];
      for (const c of cases) {
        const res = await t.api(c.method, c.url, c.body, c.headers ? { headers: c.headers } : {});
        const label = `${c.method} ${c.url}`;
        assert.equal(res.status, c.status, `${label}: ${res.body}`);
        assert.equal(code(res), c.code, label);
        const message = (res.json as ErrorJson).error.message;
        assert.match(message, c.message, label);
        assert.ok(!message.includes('\n'), `${label}: one line`);
        for (const form of leakForms(MARKER)) assert.ok(!res.body.includes(form), `${label}: the answer echoes the value`);
      }
      await assertNoLeak(t, 'after refused requests');
    });

    it('dot segments sent over the wire are refused, not resolved into another path', async () => {
      // In-process injection normalises URLs the way a browser would; a real client need not, so this goes over TLS as sent.
      const ca = await readFile(join(t.dataDir, 'ca.pem'), 'utf8');
      for (const raw of ['/v1/secrets/data/app/%2E%2E/x', '/v1/secrets/data/app/../x', '/v1/secrets/data/./x']) {
        const res = await rawRequest(t, ca, 'PUT', raw, JSON.stringify({ value: b64(MARKER) }));
        assert.equal(res.status, 400, `${raw}: ${res.body}`);
        assert.match((JSON.parse(res.body) as ErrorJson).error.message, /"\." or "\.\."/);
      }
      assert.equal((await t.api('GET', '/v1/secrets/data/x')).status, 404, 'nothing was written at the resolved path');
    });

    it('path-scoped roles: reads out of scope look missing, writes are refused, lists are filtered, denials are audited', async () => {
      for (const path of ['app/one', 'app/two', 'app/root-key', 'db/password', 'other/x']) {
        assert.equal((await t.api('PUT', `/v1/secrets/data/${path}`, { value: b64(`${MARKER}-${path}`) })).status, 200);
      }
      const role = uniqueName('app-secrets');
      const applied = await t.api('PUT', '/v1/roles', {
        yaml: `name: ${role}
allow:
  - resources: [secrets]
    verbs: [list, read, write]
    paths: ["app/*", db/password]
deny:
  - resources: [secrets]
    verbs: [read]
    paths: ["app/root-*"]
`,
      });
      assert.equal(applied.status, 200, applied.body);
      // A role that writes secrets is as strong as admin (a delivery writes files on the nodes): people need MFA for it.
      const person = await createUser(t, { roles: [role] });
      const noMfa = await t.api('GET', '/v1/secrets', undefined, { token: await loginSession(t, person.name, person.password) });
      assert.deepEqual([noMfa.status, code(noMfa)], [403, 'MFA_ENROLLMENT_REQUIRED']);
      // An API token of the role (tokens have no second factor to enrol).
      const tokenName = uniqueName('app-secrets-token');
      const token = (await mintApiToken(t, role, { name: tokenName })).token;
      const as = { token };

      const listed = await t.api<List>('GET', '/v1/secrets', undefined, as);
      assert.equal(listed.status, 200, listed.body);
      assert.deepEqual(
        listed.json.secrets.map((s) => s.path),
        ['app/db-password', 'app/one', 'app/root-key', 'app/two', 'db/password'],
        'only paths the role may list',
      );
      assert.ok(!listed.json.secrets.some((s) => s.path.startsWith('other/') || s.path.startsWith('keep/')));

      const ok = await t.api<Value>('GET', '/v1/secrets/data/app/one', undefined, as);
      assert.equal(ok.status, 200, ok.body);
      assert.equal((await t.api('GET', '/v1/secrets/data/db/password', undefined, as)).status, 200);

      // Out of scope, existing or not: the same 404 and message.
      const hidden = await t.api('GET', '/v1/secrets/data/other/x', undefined, as);
      const missing = await t.api('GET', '/v1/secrets/data/other/nothing', undefined, as);
      assert.equal(hidden.status, 404);
      assert.equal(missing.status, 404);
      assert.equal((hidden.json as ErrorJson).error.message.replace('other/x', 'P'), (missing.json as ErrorJson).error.message.replace('other/nothing', 'P'));
      assert.equal((await t.api('GET', '/v1/secrets/data/app/root-key', undefined, as)).status, 404, 'deny wins');
      assert.equal((await t.api('GET', '/v1/secrets/versions/other/x', undefined, as)).status, 404);

      const write = await t.api('PUT', '/v1/secrets/data/other/y', { value: b64(MARKER) }, as);
      assert.equal(write.status, 403);
      assert.equal(code(write), 'FORBIDDEN');
      assert.equal((await t.api('PUT', '/v1/secrets/data/app/three', { value: b64('fine') }, as)).status, 200);
      assert.equal((await t.api('PUT', '/v1/secrets/data/app/deep/three', { value: b64('no') }, as)).status, 403, '"*" stays within one segment');
      assert.equal((await t.api('POST', '/v1/secrets/rollback/other/x', { version: 1 }, as)).status, 403);
      const rmRes = await t.api('DELETE', '/v1/secrets/data/app/one', undefined, as);
      assert.equal(rmRes.status, 403, 'the role has no delete at all: refused by the guard');

      const audit = await t.api<{ entries: { actor: string; action: string; resource: string; decision: string; details: Record<string, unknown> }[] }>('GET', `/v1/audit?actor=${encodeURIComponent(`token:${tokenName}`)}&limit=1000`);
      const denials = audit.json.entries.filter((e) => e.decision === 'deny' && e.action.startsWith('secrets.'));
      assert.ok(denials.some((e) => e.action === 'secrets.read' && e.details['path'] === 'other/x'), 'the out-of-scope read is audited as a denial');
      assert.ok(denials.some((e) => e.action === 'secrets.write' && e.details['path'] === 'other/y'));
      const reads = audit.json.entries.filter((e) => e.action === 'secrets.read' && e.decision === 'allow' && e.resource === 'secrets/app/one');
      assert.deepEqual(reads.at(-1)?.details, { path: 'app/one', version: 1 }, 'a read is recorded with path and version only');

      // The built-in auditor sees names and versions, never values.
      const auditor = (await mintApiToken(t, 'auditor')).token;
      assert.equal((await t.api('GET', '/v1/secrets', undefined, { token: auditor })).status, 200);
      assert.equal((await t.api('GET', '/v1/secrets/versions/other/x', undefined, { token: auditor })).status, 200);
      assert.equal((await t.api('GET', '/v1/secrets/data/other/x', undefined, { token: auditor })).status, 403);
      await assertNoLeak(t, 'after scoped requests');
    });

    it('a key rotation re-wraps every stored value, and they still read', async () => {
      await t.api('PUT', '/v1/secrets/data/rewrap/a', { value: b64(`${MARKER}-rewrap`) });
      const before = await t.server.keys.status();
      const next = await t.server.keys.rotate();
      assert.equal(next, before.activeVersion + 1);
      await t.server.keys.rewrapIdle();
      const raw = await openRawDb(t);
      try {
        const rows = await raw.all<{ path: string; value: string }>('select path, value from secret_versions where value is not null');
        assert.ok(rows.length > 3);
        for (const row of rows) assert.ok(row.value.startsWith(`bwe1.${next}.`), `${row.path} is re-wrapped under key version ${next}`);
      } finally {
        await raw.close();
      }
      const got = await t.api<Value>('GET', '/v1/secrets/data/rewrap/a');
      assert.equal(Buffer.from(got.json.value, 'base64').toString(), `${MARKER}-rewrap`);
    });
  });
}

/** One HTTPS request with the path exactly as given (no URL normalisation), as the bootstrap admin. */
function rawRequest(t: TestServer, ca: string, method: string, path: string, body: string): Promise<{ status: number; body: string }> {
  const url = new URL(t.server.apiUrl);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      { host: url.hostname, port: url.port, method, path, ca, headers: { authorization: `Bearer ${t.adminToken}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => {
          text += c.toString('utf8');
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** `bulwark …` from source with bytes on stdin; stdout kept as bytes. */
function cli(t: TestServer, args: string[], stdin?: Buffer): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI_ENTRY, ...args, '--server', t.server.apiUrl, '--data-dir', t.dataDir], {
    cwd: REPO_ROOT,
    env: Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'BULWARK_TOKEN' && k !== 'BULWARK_SERVER' && k !== 'BULWARK_CA')),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const out: Buffer[] = [];
  let err = '';
  child.stdout.on('data', (c: Buffer) => out.push(c));
  child.stderr.on('data', (c: Buffer) => {
    err += c.toString('utf8');
  });
  child.stdin.end(stdin ?? Buffer.alloc(0));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr: err })));
}

describe('bulwark secret (the CLI)', () => {
  let t: TestServer;
  let dir: string;
  before(async () => {
    t = await startTestServer();
    dir = await mkdtemp(join(tmpdir(), 'bulwark-it-secret-cli-'));
  });
  after(async () => {
    await t?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('puts from stdin and a file, gets raw bytes, lists, rolls back and removes, with --json everywhere', async () => {
    const binary = Buffer.concat([Buffer.from(MARKER), randomBytes(300), Buffer.from('\n')]);
    const put = await cli(t, ['secret', 'put', 'cli/bin', '-'], binary);
    assert.equal(put.code, 0, put.stderr);
    assert.equal(put.stdout.toString(), 'Stored cli/bin version 1\n');
    const got = await cli(t, ['secret', 'get', 'cli/bin']);
    assert.equal(got.code, 0, got.stderr);
    assert.deepEqual(got.stdout, binary, 'raw bytes, nothing added or removed');

    const file = join(dir, 'value');
    await writeFile(file, 'from-a-file');
    const put2 = await cli(t, ['secret', 'put', 'cli/bin', '--file', file, '--max-versions', '5', '--json']);
    assert.equal(put2.code, 0, put2.stderr);
    assert.deepEqual(JSON.parse(put2.stdout.toString()), { path: 'cli/bin', version: 2, maxVersions: 5, removedVersions: [] });

    const out = join(dir, 'out');
    const toFile = await cli(t, ['secret', 'get', 'cli/bin', '--version', '1', '-o', out]);
    assert.equal(toFile.code, 0, toFile.stderr);
    assert.deepEqual(await readFile(out), binary);
    assert.equal((await stat(out)).mode & 0o777, 0o600);
    const json = await cli(t, ['secret', 'get', 'cli/bin', '--json']);
    assert.equal(Buffer.from(JSON.parse(json.stdout.toString()).value, 'base64').toString(), 'from-a-file');

    const ls = await cli(t, ['secret', 'ls', 'cli/', '--json']);
    assert.deepEqual(
      JSON.parse(ls.stdout.toString()).map((s: { path: string; currentVersion: number }) => [s.path, s.currentVersion]),
      [['cli/bin', 2]],
    );
    const table = await cli(t, ['secret', 'ls']);
    assert.match(table.stdout.toString(), /^PATH\s+VERSION\s+STATE\s+KEEPS\s+UPDATED\ncli\/bin\s+2\s+live\s+5\s/);

    const rmv = await cli(t, ['secret', 'rm', 'cli/bin']);
    assert.equal(rmv.code, 0, rmv.stderr);
    assert.match(rmv.stdout.toString(), /Deleted version 2 of cli\/bin; bring it back with `bulwark secret rollback cli\/bin --version 2`/);
    const missing = await cli(t, ['secret', 'get', 'cli/bin']);
    assert.equal(missing.code, 4, 'NOT_FOUND exits 4');
    assert.match(missing.stderr, /^bulwark: version 2 of secret "cli\/bin" is deleted/);
    const rolled = await cli(t, ['secret', 'rollback', 'cli/bin', '--version', '2', '--json']);
    assert.equal(JSON.parse(rolled.stdout.toString()).version, 3);
    const versions = await cli(t, ['secret', 'versions', 'cli/bin', '--json']);
    assert.deepEqual(
      JSON.parse(versions.stdout.toString()).versions.map((v: { version: number; state: string }) => [v.version, v.state]),
      [
        [1, 'live'],
        [2, 'deleted'],
        [3, 'live'],
      ],
    );
    const destroy = await cli(t, ['secret', 'rm', 'cli/bin', '--version', '1', '--destroy']);
    assert.equal(destroy.stdout.toString(), 'Destroyed version 1 of cli/bin: its value is gone for good\n');
  });

  it('refuses ambiguous or misplaced values without echoing them, with usage exit codes', async () => {
    const misplaced = await cli(t, ['secret', 'put', 'cli/x', MARKER]);
    assert.equal(misplaced.code, 2);
    assert.ok(!misplaced.stderr.includes(MARKER), 'a value typed in place of "-" is not echoed');
    assert.match(misplaced.stderr, /can only be "-"/);
    const none = await cli(t, ['secret', 'put', 'cli/x']);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /give the value of cli\/x/);
    const twice = await cli(t, ['secret', 'put', 'cli/x', '-', '--value', MARKER], Buffer.from('x'));
    assert.equal(twice.code, 2);
    assert.ok(!twice.stderr.includes(MARKER));
    const badPath = await cli(t, ['secret', 'get', '../etc/passwd']);
    assert.equal(badPath.code, 2);
    assert.match(badPath.stderr, /"\." or "\.\."/);
    const badVersion = await cli(t, ['secret', 'get', 'cli/x', '--version', 'latest']);
    assert.equal(badVersion.code, 2);
    const big = await cli(t, ['secret', 'put', 'cli/x', '-'], randomBytes(64 * 1024 + 1));
    assert.equal(big.code, 2);
    assert.match(big.stderr, /64 KiB/);
    const explicit = await cli(t, ['secret', 'put', 'cli/x', '--value', MARKER]);
    assert.equal(explicit.code, 0, explicit.stderr);
    await assertNoLeak(t, 'after the CLI');
  });
});
