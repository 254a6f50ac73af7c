/**
 * SSH certificates against the real thing: Debian's OpenSSH sshd, started here on
 * 127.0.0.1 with a throwaway host key, trusting only the Bulwark SSH CA
 * (`TrustedUserCAKeys`, no authorized_keys), and the real `ssh` client logging in.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { signSshUserCertificate, sshCaFingerprint, type SignSshUserCertificateOptions } from '../src/pki/ssh-cert.js';
import { formatSshPublicKey, generateSshCa, type SshCaKeyPair } from '../src/pki/ssh-keys.js';

const SSHD = '/usr/sbin/sshd';
const SSH = '/usr/bin/ssh';
const SSH_KEYGEN = '/usr/bin/ssh-keygen';
const missing = [SSHD, SSH].filter((p) => !existsSync(p));
const skip = missing.length > 0 ? `${missing.join(' and ')} not installed (Debian packages openssh-server, openssh-client)` : false;
if (skip) console.log(`SSH login tests skipped: ${skip}`);

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
/** Whoever runs the test: sshd matches a certificate principal against the login name. */
const user = userInfo().username;
const isRoot = process.getuid?.() === 0;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

interface UserKey {
  name: string;
  /** Private key file for `ssh -i`. */
  file: string;
  publicKey: string;
}

/**
 * ssh-keygen's keys where it exists; otherwise node:crypto keys in the PEM forms
 * OpenSSH reads (SEC1 for ECDSA, PKCS#1 for RSA). Ed25519 needs ssh-keygen.
 */
function makeUserKeys(dir: string): UserKey[] {
  const keys: UserKey[] = [];
  if (existsSync(SSH_KEYGEN)) {
    for (const [name, args] of [
      ['ed25519', ['-t', 'ed25519']],
      ['ecdsa', ['-t', 'ecdsa', '-b', '256']],
      ['rsa', ['-t', 'rsa', '-b', '3072']],
    ] as const) {
      const file = join(dir, `id_${name}`);
      execFileSync(SSH_KEYGEN, ['-q', ...args, '-N', '', '-C', `${name}@test`, '-f', file]);
      keys.push({ name, file, publicKey: readFileSync(`${file}.pub`, 'utf8').trim() });
    }
    return keys;
  }
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const rsa = generateKeyPairSync('rsa', { modulusLength: 3072 });
  for (const [name, pair, type] of [
    ['ecdsa', ec, 'sec1'],
    ['rsa', rsa, 'pkcs1'],
  ] as const) {
    const file = join(dir, `id_${name}`);
    writeFileSync(file, pair.privateKey.export({ type, format: 'pem' }), { mode: 0o600 });
    const publicKey = formatSshPublicKey(pair.publicKey, `${name}@test`);
    // ssh pairs a CertificateFile with an -i key through the key's .pub beside it;
    // without one it does not know a PEM key's public half in time.
    writeFileSync(`${file}.pub`, `${publicKey}\n`);
    keys.push({ name, file, publicKey });
  }
  return keys;
}

function makeHostKey(dir: string): string {
  const file = join(dir, 'ssh_host_key');
  if (existsSync(SSH_KEYGEN)) {
    execFileSync(SSH_KEYGEN, ['-q', '-t', 'ed25519', '-N', '', '-f', file]);
  } else {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    writeFileSync(file, privateKey.export({ type: 'sec1', format: 'pem' }), { mode: 0o600 });
  }
  return file;
}

class Sshd {
  log = '';
  readonly #child: ChildProcess;
  readonly #exited: Promise<void>;

  constructor(config: string) {
    this.#child = spawn(SSHD, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.#child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.log += chunk;
    });
    this.#exited = new Promise((resolve) => this.#child.once('exit', () => resolve()));
  }

  /** Resolves once `pattern` has appeared in sshd's log; rejects after `ms` or if sshd exits. */
  async waitFor(pattern: RegExp | string, ms = 5000): Promise<void> {
    const deadline = Date.now() + ms;
    const seen = (): boolean => (typeof pattern === 'string' ? this.log.includes(pattern) : pattern.test(this.log));
    while (!seen()) {
      if (this.#child.exitCode !== null) throw new Error(`sshd exited (${this.#child.exitCode}):\n${this.log}`);
      if (Date.now() > deadline) throw new Error(`sshd never logged ${String(pattern)}; its log:\n${this.log}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  async stop(): Promise<void> {
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill('SIGTERM');
    await this.#exited;
  }
}

interface SshResult {
  code: number;
  stdout: string;
  stderr: string;
}

describe('OpenSSH accepts Bulwark user certificates', { skip }, () => {
  let dir: string;
  let port: number;
  let sshd: Sshd;
  let ca: SshCaKeyPair;
  let keys: UserKey[];
  let serial = 1n;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'bulwark-sshd-'));
    ca = generateSshCa();
    writeFileSync(join(dir, 'user_ca.pub'), `${ca.publicKey}\n`);
    keys = makeUserKeys(dir);
    const hostKey = makeHostKey(dir);
    // sshd running as root drops privileges into this directory; Debian's
    // package makes it at boot, a container may not have it.
    if (isRoot && !existsSync('/run/sshd')) mkdirSync('/run/sshd', { mode: 0o755 });

    for (let attempt = 0; ; attempt++) {
      port = await freePort();
      const config = join(dir, 'sshd_config');
      writeFileSync(
        config,
        [
          'ListenAddress 127.0.0.1',
          `Port ${port}`,
          `HostKey ${hostKey}`,
          `TrustedUserCAKeys ${join(dir, 'user_ca.pub')}`,
          // Only certificates: no authorized_keys, no passwords.
          'AuthorizedKeysFile none',
          'PubkeyAuthentication yes',
          'PasswordAuthentication no',
          'KbdInteractiveAuthentication no',
          'UsePAM no',
          'StrictModes no',
          `PidFile ${join(dir, 'sshd.pid')}`,
          // VERBOSE logs each accepted certificate's key id and serial.
          'LogLevel VERBOSE',
          ...(isRoot ? ['PermitRootLogin yes'] : []),
          '',
        ].join('\n'),
      );
      execFileSync(SSHD, ['-t', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
      sshd = new Sshd(config);
      try {
        await sshd.waitFor(`Server listening on 127.0.0.1 port ${port}`, 10_000);
        break;
      } catch (err) {
        await sshd.stop();
        // Another process may have taken the port between freePort() and sshd's bind.
        if (attempt < 2 && /Address already in use/.test(sshd.log)) continue;
        throw err;
      }
    }
  });

  after(async () => {
    await sshd?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function certify(key: UserKey, over: Partial<SignSshUserCertificateOptions> = {}): string {
    const now = Date.now();
    const line = signSshUserCertificate({
      caPrivateKeyPem: ca.privateKeyPem,
      caPublicKey: ca.publicKey,
      publicKey: key.publicKey,
      keyId: `alice-${key.name}`,
      principals: [user],
      validAfter: now - MINUTE,
      validBefore: now + HOUR,
      serial: serial++,
      ...over,
    });
    const file = `${key.file}-${serial}-cert.pub`;
    writeFileSync(file, `${line}\n`);
    return file;
  }

  function ssh(key: UserKey, certFile: string | undefined): Promise<SshResult> {
    const env = { ...process.env };
    delete env.SSH_AUTH_SOCK; // no agent keys: only the key and certificate given here
    const args = [
      '-F', '/dev/null',
      '-i', key.file,
      ...(certFile ? ['-o', `CertificateFile=${certFile}`] : []),
      '-o', 'IdentitiesOnly=yes',
      '-o', 'StrictHostKeyChecking=no',
      '-o', 'UserKnownHostsFile=/dev/null',
      '-o', 'GlobalKnownHostsFile=/dev/null',
      '-o', 'BatchMode=yes',
      '-o', 'PreferredAuthentications=publickey',
      '-o', 'ConnectTimeout=10',
      '-o', 'LogLevel=ERROR',
      '-p', String(port),
      `${user}@127.0.0.1`,
      'echo ok',
    ];
    return new Promise((resolve) => {
      execFile(SSH, args, { env, timeout: 30_000 }, (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      });
    });
  }

  function assertRefused(result: SshResult, what: string): void {
    assert.equal(result.code, 255, `${what}: ssh should fail; stdout ${JSON.stringify(result.stdout)}, stderr ${result.stderr}`);
    assert.doesNotMatch(result.stdout, /ok/);
    assert.match(result.stderr, /Permission denied \(publickey\)/, what);
  }

  it(`logs in as the certificate's principal (${user}) with Ed25519, ECDSA and RSA user keys`, async () => {
    for (const key of keys) {
      const cert = certify(key);
      const result = await ssh(key, cert);
      assert.equal(result.code, 0, `${key.name}: ssh failed: ${result.stderr}\nsshd log:\n${sshd.log}`);
      assert.equal(result.stdout, 'ok\n');
      // sshd says which certificate let the user in.
      await sshd.waitFor(new RegExp(`Accepted publickey for ${user} from 127\\.0\\.0\\.1 .* ID alice-${key.name} \\(serial ${serial - 1n}\\) CA ED25519`));
    }
  });

  it('refuses an expired certificate', async () => {
    const key = keys[0];
    assert.ok(key);
    const now = Date.now();
    const cert = certify(key, { keyId: 'expired', validAfter: now - 2 * HOUR, validBefore: now - HOUR });
    assertRefused(await ssh(key, cert), 'expired certificate');
    await sshd.waitFor('Certificate invalid: expired');
  });

  it('refuses a certificate that is not yet valid', async () => {
    const key = keys[0];
    assert.ok(key);
    const now = Date.now();
    const cert = certify(key, { keyId: 'future', validAfter: now + HOUR, validBefore: now + 2 * HOUR });
    assertRefused(await ssh(key, cert), 'future certificate');
    await sshd.waitFor('Certificate invalid: not yet valid');
  });

  it('refuses a certificate for another principal only', async () => {
    const key = keys[0];
    assert.ok(key);
    const cert = certify(key, { keyId: 'other-principal', principals: [`not-${user}`, 'deploy'] });
    assertRefused(await ssh(key, cert), 'other principal');
    await sshd.waitFor('Certificate invalid: name is not a listed principal');
  });

  it('refuses a certificate signed by a different CA', async () => {
    const key = keys[0];
    assert.ok(key);
    const other = generateSshCa('some-other-ca');
    const cert = certify(key, { keyId: 'foreign-ca', caPrivateKeyPem: other.privateKeyPem, caPublicKey: other.publicKey });
    assertRefused(await ssh(key, cert), 'foreign CA');
    await sshd.waitFor(`ID foreign-ca (serial ${serial - 1n}) CA ED25519 ${sshCaFingerprint(other.publicKey)}`);
    assert.doesNotMatch(sshd.log, /Accepted certificate ID "foreign-ca"/);
    assert.doesNotMatch(sshd.log, /Accepted publickey .* ID foreign-ca/);
  });

  it('refuses the bare key without a certificate (no authorized_keys)', async () => {
    const key = keys[0];
    assert.ok(key);
    assertRefused(await ssh(key, undefined), 'bare key');
  });
});
