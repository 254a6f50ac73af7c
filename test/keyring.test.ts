/**
 * The keyring of a running server: unlocking by key file, passphrase and Shamir
 * shares; what a sealed server answers; seal and rekey; rotation under
 * concurrent writes; a re-wrap killed with SIGKILL resumes and finishes.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { silentLogger } from '../src/core/logger.js';
import { loadMasterKey } from '../src/keyring/master-key-file.js';
import { MasterKeyKeyring } from '../src/keyring/master-key-keyring.js';
import type { RecordCipher } from '../src/keyring/record-cipher.js';
import { offlineCipher } from '../src/server/key-service.js';
import { MASTER_KEY_FILE, Server } from '../src/server/server.js';
import type { ServerOptions } from '../src/server/options.js';
import { listKeks } from '../src/store/keyring-keys.js';
import { openStore, type Store } from '../src/store/open.js';
import { testDatabases } from '../src/store/test-databases.js';
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { seedEncryptedRecords } from './seed-encrypted.js';
import { CLI_ENTRY, httpsCall, REPO_ROOT, spawnCli, startTestServer, waitFor, withTempDir, type ErrorJson } from './harness.js';

const PASSPHRASE = 'correct horse battery staple';
// The lowest scrypt cost the passphrase format accepts, so these tests stay fast.
const CHEAP = { log2N: 14, r: 8, p: 1 };

function options(dataDir: string, extra: Partial<ServerOptions> = {}): ServerOptions {
  return {
    dataDir,
    api: { host: '127.0.0.1', port: 0 },
    agent: { host: '127.0.0.1', port: 0 },
    heartbeatIntervalMs: 200,
    logger: silentLogger,
    keyring: { retireGraceMs: 300, refreshMs: 200 },
    ...extra,
  };
}

function tcpOpen(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname, () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function inject<T = unknown>(server: Server, method: string, url: string, body?: unknown, token?: string): Promise<{ status: number; json: T }> {
  const res = await server.api.inject({
    method: method as 'GET',
    url,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(token ? { authorization: `Bearer ${token}` } : {}) },
    ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
  });
  return { status: res.statusCode, json: (res.body === '' ? undefined : JSON.parse(res.body)) as T };
}

async function https<T = unknown>(server: Server, ca: string, method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; json: T }> {
  const res = await httpsCall(`${server.apiUrl}${path}`, {
    ca,
    method,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(token ? { authorization: `Bearer ${token}` } : {}) },
  });
  return { status: res.status, json: JSON.parse(res.body) as T };
}

describe('unlocking with a passphrase', () => {
  it('a new cluster is unsealed at init; every later start is sealed until the passphrase is given', async () => {
    await withTempDir('bulwark-kr-', async (dir) => {
      const first = await Server.start(options(dir, { seal: { method: 'passphrase', passphrase: PASSPHRASE, cost: CHEAP } }));
      const token = first.adminToken ?? '';
      assert.equal(first.sealed, false);
      assert.equal((await inject(first, 'GET', '/v1/nodes', undefined, token)).status, 200);
      await first.close();

      const server = await Server.start(options(dir));
      try {
        assert.equal(server.sealed, true);
        const ca = await readFile(join(dir, 'ca.pem'), 'utf8');
        // Over real TLS, with the certificate chaining to the cluster CA: the sealed server answers health and unseal only.
        assert.equal((await https(server, ca, 'GET', '/healthz')).status, 200);
        assert.equal((await https(server, ca, 'GET', '/readyz')).status, 503);
        const status = await https<{ sealed: boolean; method: string }>(server, ca, 'GET', '/v1/sys/seal-status');
        assert.deepEqual([status.status, status.json.sealed, status.json.method], [200, true, 'passphrase']);
        for (const [method, path] of [['GET', '/v1/nodes'], ['POST', '/v1/join-tokens'], ['GET', '/v1/keys/status'], ['POST', '/v1/sys/seal'], ['GET', '/v1/openapi.json']] as const) {
          const res = await https<ErrorJson>(server, ca, method, path, method === 'POST' ? {} : undefined, token);
          assert.equal(res.status, 503, `${method} ${path}`);
          assert.equal(res.json.error.code, 'SEALED');
          assert.match(res.json.error.message, /bulwark unseal/);
        }
        // No agent can connect while sealed: the agent listener is closed.
        assert.throws(() => server.agentUrl, { code: 'SEALED' });
        assert.equal(server.options.agent.port, 0, 'a sealed start never opened the agent listener');

        const wrong = await https<ErrorJson>(server, ca, 'POST', '/v1/sys/unseal', { passphrase: 'not the passphrase at all' });
        assert.equal(wrong.status, 401);
        assert.equal(wrong.json.error.code, 'UNSEAL_FAILED');
        assert.equal(server.sealed, true);
        const empty = await https<ErrorJson>(server, ca, 'POST', '/v1/sys/unseal', {});
        assert.equal(empty.status, 400);

        const ok = await https<{ sealed: boolean }>(server, ca, 'POST', '/v1/sys/unseal', { passphrase: PASSPHRASE });
        assert.deepEqual([ok.status, ok.json.sealed], [200, false]);
        assert.equal((await https(server, ca, 'GET', '/v1/nodes', undefined, token)).status, 200);
        assert.ok(await tcpOpen(server.agentUrl), 'the agent listener is open once unsealed');
        const entries = await server.audit.list({ action: 'keyring.unseal', limit: 10 });
        assert.equal(entries.length, 1);
        assert.doesNotMatch(JSON.stringify(entries), /horse/, 'the passphrase is not in the audit log');

        // Sealing again through the API: the answer comes first, then the server seals.
        const sealed = await https<{ sealed: boolean }>(server, ca, 'POST', '/v1/sys/seal', undefined, token);
        assert.equal(sealed.status, 202);
        await waitFor(() => server.sealed, { message: 'the server seals' });
        assert.equal((await https(server, ca, 'GET', '/v1/nodes', undefined, token)).status, 503);
        assert.equal((await server.unseal({ passphrase: PASSPHRASE })).sealed, false);
      } finally {
        await server.close();
      }

      // A start given the passphrase is unsealed at once.
      const direct = await Server.start(options(dir, { unseal: { passphrase: PASSPHRASE } }));
      assert.equal(direct.sealed, false);
      await direct.close();
      // Asking for another method on an existing cluster is refused, not silently ignored.
      await assert.rejects(Server.start(options(dir, { seal: { method: 'shamir', shares: 3, threshold: 2 } })), { code: 'CONFLICT' });
    });
  });
});

describe('unlocking with Shamir shares', () => {
  it('needs the threshold of distinct, current shares; refuses mistyped, repeated and foreign ones; rekey replaces them', async () => {
    await withTempDir('bulwark-kr-', async (dir) => {
      const first = await Server.start(options(dir, { seal: { method: 'shamir', shares: 5, threshold: 3 } }));
      const token = first.adminToken ?? '';
      const shares = first.initShares ?? [];
      assert.equal(shares.length, 5);
      assert.equal(new Set(shares).size, 5);
      await first.close();

      const server = await Server.start(options(dir));
      try {
        assert.equal(server.sealed, true);
        const [s1 = '', s2 = '', s3 = '', s4 = '', s5 = ''] = shares;
        let status = await server.unseal({ share: s1 });
        assert.deepEqual([status.sealed, status.progress, status.threshold], [true, 1, 3]);
        // The same share twice does not count twice.
        await assert.rejects(server.unseal({ share: s1 }), { code: 'INVALID_SHARE' });
        // One character changed: the checksum names it as mistyped.
        const typo = s2.slice(0, 20) + (s2[20] === 'a' ? 'b' : 'a') + s2.slice(21);
        await assert.rejects(server.unseal({ share: typo }), (err: Error & { code?: string }) => err.code === 'INVALID_SHARE' && /mistyped/.test(err.message));
        await assert.rejects(server.unseal({ share: 'hello' }), { code: 'INVALID_SHARE' });
        status = await server.unseal({ share: s4 });
        assert.deepEqual([status.sealed, status.progress], [true, 2]);
        // Starting over forgets what was given.
        status = await server.unseal({ reset: true });
        assert.equal(status.progress, 0);
        await server.unseal({ share: s5 });
        await server.unseal({ share: s3 });
        status = await server.unseal({ share: s2 });
        assert.deepEqual([status.sealed, status.progress], [false, 0]);
        assert.equal((await inject(server, 'GET', '/v1/nodes', undefined, token)).status, 200);

        // Rekey: new shares for a new master key; the old shares no longer unseal.
        const rekeyed = await inject<{ method: string; shares: string[] }>(server, 'POST', '/v1/keys/rekey', { method: 'shamir', shares: 3, threshold: 2 }, token);
        assert.equal(rekeyed.status, 200);
        assert.equal(rekeyed.json.shares.length, 3);
        await server.seal('test');
        await assert.rejects(server.unseal({ share: s1 }), (err: Error & { code?: string }) => err.code === 'INVALID_SHARE' && /another set/.test(err.message));
        await server.unseal({ share: rekeyed.json.shares[2] ?? '' });
        assert.equal((await server.unseal({ share: rekeyed.json.shares[0] ?? '' })).sealed, false);
        assert.equal((await inject(server, 'GET', '/v1/nodes', undefined, token)).status, 200);

        // Over the wire, wrong shares are limited per address.
        const ca = await readFile(join(dir, 'ca.pem'), 'utf8');
        await server.seal('test');
        let limited = false;
        for (let i = 0; i < 15 && !limited; i++) {
          const res = await https<ErrorJson>(server, ca, 'POST', '/v1/sys/unseal', { share: 'bws1-00000000-2-1-00-00000000' });
          limited = res.status === 429;
          if (!limited) assert.equal(res.status, 400);
        }
        assert.ok(limited, 'repeated wrong shares are rate limited');
      } finally {
        await server.close();
      }
    });
  });
});

describe('unlocking with the key file', () => {
  it('seals and unseals from the key file; a key file of another cluster is refused', async () => {
    await withTempDir('bulwark-kr-', async (dir) => {
      const server = await Server.start(options(dir));
      try {
        assert.equal(server.sealed, false);
        assert.equal(server.sealStatus().method, 'file');
        await server.seal('test');
        assert.equal(server.sealed, true);
        assert.equal((await server.unseal({})).sealed, false);

        // Rekey onto a new key file: the file is replaced only after the database committed to the new key.
        const before = await readFile(join(dir, MASTER_KEY_FILE), 'utf8');
        const rekeyed = await inject(server, 'POST', '/v1/keys/rekey', { method: 'file' }, server.adminToken);
        assert.equal(rekeyed.status, 200);
        const after = await readFile(join(dir, MASTER_KEY_FILE), 'utf8');
        assert.notEqual(after, before);
        assert.equal(existsSync(join(dir, 'master.key.next')), false);
        // A crash between that commit and the file's replacement: the old file is back, the new one staged.
        await writeFile(join(dir, MASTER_KEY_FILE), before, { mode: 0o600 });
        await writeFile(join(dir, 'master.key.next'), after, { mode: 0o600 });
      } finally {
        await server.close();
      }
      const recovered = await Server.start(options(dir));
      assert.equal(recovered.sealed, false, 'the staged key file finishes the rekey at the next start');
      assert.equal(existsSync(join(dir, 'master.key.next')), false);
      await recovered.close();
      await writeFile(join(dir, MASTER_KEY_FILE), `bulwark-master-key v1\n${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
      await assert.rejects(Server.start(options(dir)), { code: 'UNSEAL_FAILED' });
    });
  });
});

/** Every seeded value decrypts to what was written, and is wrapped under `version`. */
async function assertAllUnder(store: Store, cipher: RecordCipher, version: number, expected: number): Promise<void> {
  const rows = await store.db.selectFrom('users').select(['id', 'name', 'totp_secret']).where('name', 'like', 'seed-%').execute();
  assert.equal(rows.length, expected);
  for (const row of rows) {
    assert.ok(row.totp_secret?.startsWith(`bwe1.${version}.`), `${row.id} is under version ${version}`);
    const value = await cipher.decrypt(row.totp_secret ?? '', { table: 'users.totp_secret', id: row.id, version: 1 });
    assert.equal(value.toString(), `seed-value-${row.name.slice('seed-'.length)}`);
  }
}

for (const db of testDatabases()) {
  describe(`rotation (${db.kind})`, () => {
    it('under concurrent writes loses nothing and leaves no record on a retired key version', async () => {
      const t = await startTestServer({ database: db, keyring: { retireGraceMs: 300, refreshMs: 200 } });
      try {
        const keys = t.server.keys;
        const store = t.server.store;
        await seedEncryptedRecords(store, keys, 0, 2000);
        let written = 2000;
        let stop = false;
        // Writers keep adding encrypted records while the key rotates twice and the re-wrap runs.
        const writers = (async () => {
          while (!stop) {
            await seedEncryptedRecords(store, keys, written, 50);
            written += 50;
            // SQLite calls complete without a trip through the event loop: let timers run.
            await new Promise((resolve) => setImmediate(resolve));
          }
        })();
        assert.equal(await keys.rotate(), 2);
        await new Promise((resolve) => setTimeout(resolve, 200));
        const v3 = await keys.rotate();
        await new Promise((resolve) => setTimeout(resolve, 300));
        stop = true;
        await writers;
        await waitFor(async () => (await keys.status()).versions.every((v) => v.version === v3 || v.state === 'retired') || undefined, {
          timeoutMs: 60_000,
          message: 'old key versions retired',
        });
        const keks = await listKeks(store.db);
        assert.deepEqual(
          keks.map((k) => [k.version, k.state, k.sealed === '']),
          [
            [1, 'retired', true],
            [2, 'retired', true],
            [3, 'active', false],
          ],
        );
        await assertAllUnder(store, keys, v3, written);
        // The cluster's own keys moved too: after a seal and unseal (everything read again) the server works.
        await t.server.seal('test');
        await t.server.unseal({});
        assert.equal((await t.api('GET', '/v1/nodes')).status, 200);
        assert.equal((await t.api('GET', '/v1/ssh/ca')).status, 200);
      } finally {
        await t.close();
      }
    });
  });
}

describe('a re-wrap killed with SIGKILL', () => {
  const children: { kill(signal?: NodeJS.Signals): Promise<void> }[] = [];
  after(async () => {
    for (const c of children) await c.kill('SIGKILL');
  });

  it('resumes when the server starts again and finishes with every value readable', async () => {
    await withTempDir('bulwark-kr-', async (dir) => {
      const RECORDS = 30_000;
      // A cluster with many encrypted records, made in this process and then closed.
      const setup = await Server.start(options(dir));
      await seedEncryptedRecords(setup.store, setup.keys, 0, RECORDS);
      await setup.close();

      const start = (): ReturnType<typeof spawnCli> => {
        const child = spawnCli(['server', 'run', '--data-dir', dir, '--api-addr', '127.0.0.1:0', '--agent-addr', '127.0.0.1:0', '--log-level', 'warn']);
        children.push(child);
        return child;
      };
      const apiOf = async (child: ReturnType<typeof spawnCli>): Promise<string> =>
        waitFor(() => /API:\s+(https:\/\/\S+)/.exec(child.output())?.[1], { timeoutMs: 60_000, message: `server start: ${child.output()}` });
      const ca = await readFile(join(dir, 'ca.pem'), 'utf8');
      const token = (await readFile(join(dir, 'admin-token'), 'utf8')).trim();
      const call = async <T>(api: string, method: string, path: string): Promise<T> => {
        const res = await httpsCall(`${api}${path}`, { ca, method, headers: { authorization: `Bearer ${token}` } });
        assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${res.body}`);
        return JSON.parse(res.body) as T;
      };
      type Status = { activeVersion: number; versions: { version: number; state: string }[]; rewrap: { done: number; total: number; finishedAt: number | null } | null };

      const first = start();
      const api1 = await apiOf(first);
      await call(api1, 'POST', '/v1/keys/rotate');
      // Kill it in the middle: some values moved, not all.
      const mid = await waitFor(
        async () => {
          const s = await call<Status>(api1, 'GET', '/v1/keys/status');
          return s.rewrap && s.rewrap.done > 0 && s.rewrap.done < s.rewrap.total ? s : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 20, message: 're-wrap under way' },
      );
      await first.kill('SIGKILL');
      assert.ok(mid.rewrap && mid.rewrap.done < RECORDS);

      const second = start();
      const api2 = await apiOf(second);
      const done = await waitFor(
        async () => {
          const s = await call<Status>(api2, 'GET', '/v1/keys/status');
          return s.rewrap?.finishedAt !== null && s.versions.find((v) => v.version === 1)?.state === 'retired' ? s : undefined;
        },
        { timeoutMs: 120_000, intervalMs: 200, message: 're-wrap finished after the restart' },
      );
      assert.equal(done.activeVersion, 2);
      assert.ok((done.rewrap?.total ?? 0) >= RECORDS);
      await second.kill('SIGTERM');

      // Read back offline with the key file: every value is under version 2 and decrypts.
      const store = await openStore({ url: join(dir, 'bulwark.db') });
      try {
        const cipher = await offlineCipher(store, new MasterKeyKeyring(await loadMasterKey(join(dir, MASTER_KEY_FILE))));
        await assertAllUnder(store, cipher, 2, RECORDS);
      } finally {
        await store.close();
      }
    });
  });
});

/** `bulwark <args>` from source with `input` on stdin; resolves with the exit code and output. */
function runCli(args: string[], input?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI_ENTRY, ...args], { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

describe('the CLI', () => {
  it('unseal --stdin, keys status and rotate, seal; wrong passphrase exits 3 with one line', async () => {
    await withTempDir('bulwark-kr-', async (dir) => {
      const first = await Server.start(options(dir, { seal: { method: 'passphrase', passphrase: PASSPHRASE, cost: CHEAP } }));
      await first.close();
      const server = await Server.start(options(dir));
      try {
        const flags = ['--server', server.apiUrl, '--data-dir', dir];
        const status = await runCli(['unseal', '--status', '--json', ...flags]);
        assert.equal(status.code, 0, status.stderr);
        assert.deepEqual(JSON.parse(status.stdout), { sealed: true, method: 'passphrase', progress: 0, threshold: 1 });

        const wrong = await runCli(['unseal', '--stdin', ...flags], 'a wrong passphrase, long enough\n');
        assert.equal(wrong.code, 3);
        assert.equal(wrong.stderr.trim().split('\n').length, 1, wrong.stderr);
        assert.match(wrong.stderr, /wrong passphrase/);
        assert.doesNotMatch(wrong.stderr + wrong.stdout, /wrong passphrase, long/, 'the passphrase is never echoed');

        const sealedCall = await runCli(['keys', 'status', ...flags]);
        assert.equal(sealedCall.code, 11, 'SEALED has its own exit code');

        const ok = await runCli(['unseal', '--stdin', ...flags], `${PASSPHRASE}\n`);
        assert.equal(ok.code, 0, ok.stderr);
        assert.match(ok.stdout, /unsealed/);

        const rotated = await runCli(['keys', 'rotate', '--wait', ...flags]);
        assert.equal(rotated.code, 0, rotated.stderr);
        assert.match(rotated.stdout, /key version 2 is active/);
        assert.match(rotated.stdout, /re-wrap finished/);
        const keys = await runCli(['keys', 'status', '--json', ...flags]);
        assert.equal(keys.code, 0, keys.stderr);
        const parsed = JSON.parse(keys.stdout) as { method: string; activeVersion: number; versions: { version: number; state: string }[] };
        assert.equal(parsed.method, 'passphrase');
        assert.equal(parsed.activeVersion, 2);
        assert.deepEqual(parsed.versions.map((v) => v.state), ['retired', 'active']);

        const badRekey = await runCli(['keys', 'rekey', '--shares', '3', ...flags]);
        assert.equal(badRekey.code, 2);
        assert.match(badRekey.stderr, /--threshold/);

        const sealed = await runCli(['seal', ...flags]);
        assert.equal(sealed.code, 0, sealed.stderr);
        await waitFor(() => server.sealed, { message: 'sealed by the CLI' });
      } finally {
        await server.close();
      }
    });
  });
});

describe('the encryption limit of a key version', () => {
  it('rotates by itself before a version reaches its limit, and every value stays readable', async () => {
    const t = await startTestServer({ keyring: { maxEncryptionsPerKey: 2500, reserveBlock: 500 } });
    try {
      const keys = t.server.keys;
      await seedEncryptedRecords(t.server.store, keys, 0, 2600);
      const status = await keys.status();
      assert.ok(status.activeVersion >= 2, `rotated, now at version ${status.activeVersion}`);
      // Counted in blocks: a version never hands out more than the limit (the block that would cross it is not used).
      for (const v of status.versions.filter((x) => x.version < status.activeVersion)) assert.ok(v.encryptions <= 2500 + 500, `version ${v.version} reserved ${v.encryptions}`);
      const events = await t.events({ type: 'keyring.rotated' });
      assert.ok(events.some((e) => (e.details as { reason?: string }).reason === 'limit'), 'the rotation says why');
      const rows = await t.server.store.db.selectFrom('users').select(['id', 'name', 'totp_secret']).where('name', 'like', 'seed-%').execute();
      assert.equal(rows.length, 2600);
      for (const row of rows) {
        const value = await keys.decrypt(row.totp_secret ?? '', { table: 'users.totp_secret', id: row.id, version: 1 });
        assert.equal(value.toString(), `seed-value-${row.name.slice('seed-'.length)}`);
      }
    } finally {
      await t.close();
    }
  });
});
