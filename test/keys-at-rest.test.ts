/**
 * Keys at rest: the CA private key never reaches the database in clear (neither
 * the main file nor its write-ahead log), and the files holding secrets are 0600.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { systemClock } from '../src/core/clock.js';
import { loadMasterKey } from '../src/keyring/master-key-file.js';
import { MasterKeyKeyring } from '../src/keyring/master-key-keyring.js';
import { loadOrCreateCluster } from '../src/server/cluster.js';
import { offlineCipher } from '../src/server/key-service.js';
import { ADMIN_TOKEN_FILE, MASTER_KEY_FILE } from '../src/server/server.js';
import { base32Encode } from '../src/access/totp.js';
import { loadOrCreateAuditKey } from '../src/server/audit-key.js';
import { loadOrCreateSshCa } from '../src/server/ssh-ca.js';
import { testDatabases } from '../src/store/test-databases.js';
import { joinAgent, POSTGRES_URL, ShiftedClock, startTestServer, userWithMfa, type TestAgent, type TestServer } from './harness.js';

async function mode(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

describe('keys at rest', () => {
  let t: TestServer;
  let agent: TestAgent;

  before(async () => {
    t = await startTestServer();
    // Some traffic, so the database and its WAL hold more than the first writes.
    agent = await joinAgent(t);
  });
  after(async () => {
    await agent?.close();
    await t?.close();
  });

  it('the CA private key appears in neither the SQLite file nor its WAL, as PEM, DER, base64 or raw scalar', async () => {
    // Decrypt the CA key exactly as the server does, with the master key from its file.
    const cipher = await offlineCipher(t.server.store, new MasterKeyKeyring(await loadMasterKey(join(t.dataDir, MASTER_KEY_FILE))));
    const cluster = await loadOrCreateCluster(t.server.store, cipher, systemClock, t.server.clusterName);
    assert.equal(cluster.created, false);
    assert.equal(cluster.ca.certPem, t.server.pki.caCertPem);
    const keyPem = cluster.ca.keyPem;
    assert.match(keyPem, /-----BEGIN PRIVATE KEY-----/);

    const base64Body = keyPem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
    const der = Buffer.from(base64Body, 'base64');
    const d = createPrivateKey(keyPem).export({ format: 'jwk' }).d;
    assert.ok(d, 'an EC private key has a scalar');
    const scalar = Buffer.from(d, 'base64url');
    assert.equal(scalar.length, 32);
    const needles: [string, Buffer][] = [
      ['PEM', Buffer.from(keyPem)],
      ['PEM body line', Buffer.from(keyPem.split('\n')[1] ?? '')],
      ['base64 DER', Buffer.from(base64Body)],
      ['base64 DER (first 40 chars)', Buffer.from(base64Body.slice(0, 40))],
      ['DER', der],
      ['raw scalar', scalar],
      ['scalar hex', Buffer.from(scalar.toString('hex'))],
      ['scalar base64url', Buffer.from(d)],
      ['scalar base64', Buffer.from(scalar.toString('base64'))],
    ];

    const dbPath = join(t.dataDir, 'bulwark.db');
    const files = [dbPath, `${dbPath}-wal`].filter((f) => existsSync(f));
    assert.ok(files.includes(dbPath));
    const contents = await Promise.all(files.map((f) => readFile(f)));
    const all = Buffer.concat(contents);
    assert.ok(all.length > 0);
    // The sealed form is there (so these are the right files), the clear one is not.
    assert.ok(all.includes(Buffer.from('bwe1.')), 'the encrypted CA key is stored');
    assert.ok(all.includes(Buffer.from(t.server.pki.caCertPem.split('\n')[1] ?? '')), 'the CA certificate is stored');
    for (const [i, content] of contents.entries()) {
      for (const [what, needle] of needles) {
        assert.equal(content.includes(needle), false, `${files[i] ?? ''} holds the CA key as ${what}`);
      }
    }
    // Nothing else in the data directory holds it either (ca.pem is the certificate only).
    const caFile = await readFile(join(t.dataDir, 'ca.pem'), 'utf8');
    assert.doesNotMatch(caFile, /PRIVATE KEY/);
  });

  it('the master key, admin token, database and agent key are readable by the owner only', async () => {
    assert.equal(await mode(join(t.dataDir, MASTER_KEY_FILE)), 0o600);
    assert.equal(await mode(join(t.dataDir, ADMIN_TOKEN_FILE)), 0o600);
    assert.equal(await mode(join(t.dataDir, 'bulwark.db')), 0o600);
    assert.equal((await mode(t.dataDir)) & 0o077, 0, 'the data directory is private');
    assert.equal((await readFile(join(t.dataDir, ADMIN_TOKEN_FILE), 'utf8')).trim(), t.adminToken);
    assert.equal(await mode(join(agent.dataDir, 'node.key')), 0o600);
  });
});

/** A value in the forms it could leak in. */
function forms(what: string, raw: Buffer): [string, Buffer][] {
  return [
    [`${what} (raw)`, raw],
    [`${what} (hex)`, Buffer.from(raw.toString('hex'))],
    [`${what} (base64)`, Buffer.from(raw.toString('base64').replace(/=+$/, ''))],
    [`${what} (base64url)`, Buffer.from(raw.toString('base64url'))],
  ];
}

/** The DER body of a PEM key, as bytes and as its base64 lines. */
function pemForms(what: string, pem: string): [string, Buffer][] {
  const body = pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
  return [[`${what} (PEM line)`, Buffer.from(pem.split('\n')[1] ?? '')], ...forms(what, Buffer.from(body, 'base64'))];
}

for (const db of testDatabases()) {
  describe(`marker values written through every path never reach the database in clear (${db.kind})`, () => {
    it('secret values, backup repository credentials, TOTP seeds, the CA, SSH CA and audit keys: absent from the SQLite file and WAL, or a pg_dump', async () => {
      const clock = new ShiftedClock();
      const t = await startTestServer({ database: db, clock });
      try {
        const marker = Buffer.from(`bulwark-marker-${randomBytes(12).toString('hex')}`);
        const put = await t.api('PUT', '/v1/secrets/data/marker/one', { value: marker.toString('base64') });
        assert.equal(put.status, 200, put.body);
        // A second version and a rollback: every version's value is encrypted.
        const marker2 = Buffer.from(`bulwark-marker-${randomBytes(12).toString('hex')}`);
        assert.equal((await t.api('PUT', '/v1/secrets/data/marker/one', { value: marker2.toString('base64') })).status, 200);
        const user = await userWithMfa(t, clock);
        // A backup policy's repository password and S3 keys, set and then replaced: every credential version is encrypted.
        const backupPassword = Buffer.from(`bulwark-marker-${randomBytes(12).toString('hex')}`);
        const s3Secret = Buffer.from(`bulwark-marker-${randomBytes(12).toString('hex')}`);
        const keyFile = randomBytes(48);
        const policy = { selector: 'role=marker', paths: ['/srv'], schedule: '0 3 * * *', repo: 's3://marker-bucket/fleet' };
        const set = await t.api('PUT', '/v1/backups/policies/marker', { ...policy, credential: { kind: 'password', password: backupPassword.toString() }, s3Credentials: { accessKeyId: 'AKIAMARKER', secretAccessKey: s3Secret.toString() } });
        assert.equal(set.status, 201, set.body);
        const replaced = await t.api('PUT', '/v1/backups/policies/marker', { ...policy, credential: { kind: 'key-file', keyFile: keyFile.toString('base64') } });
        assert.equal(replaced.status, 200, replaced.body);

        const cipher = await offlineCipher(t.server.store, new MasterKeyKeyring(await loadMasterKey(join(t.dataDir, MASTER_KEY_FILE))));
        const ca = await loadOrCreateCluster(t.server.store, cipher, systemClock, t.server.clusterName);
        const sshCa = await loadOrCreateSshCa(t.server.store, cipher, systemClock);
        const auditKey = await loadOrCreateAuditKey(t.server.store, cipher, systemClock);
        const needles: [string, Buffer][] = [
          ...forms('secret value v1', marker),
          ...forms('secret value v2', marker2),
          ...forms('backup repository password', backupPassword),
          ...forms('S3 secret key', s3Secret),
          ...forms('backup key file', keyFile),
          ...forms('TOTP seed', user.totpSecret),
          ['TOTP seed (base32)', Buffer.from(base32Encode(user.totpSecret))],
          ...pemForms('CA key', ca.ca.keyPem),
          ...pemForms('SSH CA key', sshCa.privateKeyPem),
          ...pemForms('audit key', auditKey.privateKeyPem),
        ];
        let contents: { name: string; bytes: Buffer }[];
        if (db.kind === 'sqlite') {
          const path = join(t.dataDir, 'bulwark.db');
          contents = [path, `${path}-wal`].filter((f) => existsSync(f)).map((f) => ({ name: f, bytes: readFileSync(f) }));
          assert.ok(contents.some((c) => c.name.endsWith('-wal')), 'the WAL is there to be searched');
        } else {
          const schema = t.server.options.dbSchema ?? '';
          const dump = spawnSync('pg_dump', ['--schema', schema, '--data-only', POSTGRES_URL ?? ''], { maxBuffer: 256 * 1024 * 1024 });
          assert.equal(dump.status, 0, dump.stderr?.toString());
          contents = [{ name: 'pg_dump', bytes: dump.stdout }];
        }
        const all = Buffer.concat(contents.map((c) => c.bytes));
        assert.ok(all.includes(Buffer.from('bwe1.')), 'the ciphertexts are there');
        assert.ok(all.includes(Buffer.from('marker/one')), 'the secret path (not secret) is there');
        assert.ok(all.includes(Buffer.from('s3://marker-bucket/fleet')), 'the backup policy (not secret) is there');
        for (const { name, bytes } of contents) {
          for (const [what, needle] of needles) assert.equal(bytes.includes(needle), false, `${name} holds the ${what}`);
        }
      } finally {
        await t.close();
      }
    });
  });
}
