import { after, before, describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BulwarkError } from '../core/errors.js';
import { DEFAULT_SSH_EXTENSIONS, parseSshCertificate, signSshUserCertificate, sshCaFingerprint, type SignSshUserCertificateOptions } from './ssh-cert.js';
import { formatSshPublicKey, generateSshCa, parseSshPublicKey } from './ssh-keys.js';
import { SshReader } from './ssh-wire.js';

const SSH_KEYGEN = '/usr/bin/ssh-keygen';
const haveSshKeygen = existsSync(SSH_KEYGEN);
if (!haveSshKeygen) console.log(`ssh-keygen interop checks skipped: ${SSH_KEYGEN} is not installed (Debian package openssh-client)`);

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const HOUR = 3_600_000;
const ca = generateSshCa();
const userKeys = {
  ed25519: formatSshPublicKey(generateKeyPairSync('ed25519').publicKey, 'alice@laptop'),
  ecdsa: formatSshPublicKey(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey),
  ecdsa521: formatSshPublicKey(generateKeyPairSync('ec', { namedCurve: 'P-521' }).publicKey),
  rsa: formatSshPublicKey(generateKeyPairSync('rsa', { modulusLength: 3072 }).publicKey),
};

function options(over: Partial<SignSshUserCertificateOptions> = {}): SignSshUserCertificateOptions {
  return {
    caPrivateKeyPem: ca.privateKeyPem,
    caPublicKey: ca.publicKey,
    publicKey: userKeys.ed25519,
    keyId: 'alice',
    principals: ['ubuntu', 'alice'],
    validAfter: T0,
    validBefore: T0 + HOUR,
    serial: 7n,
    ...over,
  };
}

test('a signed certificate parses back to what was asked, for Ed25519, ECDSA and RSA user keys', () => {
  for (const [name, key] of Object.entries(userKeys)) {
    const line = signSshUserCertificate(options({ publicKey: key }));
    const parsedKey = parseSshPublicKey(key);
    const [type, , comment] = line.split(' ');
    assert.equal(type, `${parsedKey.type}-cert-v01@openssh.com`, name);
    assert.equal(comment, 'alice');
    const cert = parseSshCertificate(line);
    assert.equal(cert.type, type);
    assert.equal(cert.keyType, parsedKey.type);
    assert.ok(cert.publicKeyBlob.equals(parsedKey.blob), `${name}: the certified key is the user's key`);
    assert.equal(cert.publicKeyFingerprint, parsedKey.fingerprint);
    assert.equal(cert.certType, 'user');
    assert.equal(cert.keyId, 'alice');
    assert.deepEqual(cert.principals, ['ubuntu', 'alice']);
    assert.equal(cert.serial, 7n);
    assert.equal(cert.validAfter, T0);
    assert.equal(cert.validBefore, T0 + HOUR);
    assert.deepEqual(cert.extensions, ['permit-agent-forwarding', 'permit-port-forwarding', 'permit-pty']);
    assert.deepEqual(cert.criticalOptions, {});
    assert.equal(cert.nonce.length, 32);
    assert.equal(cert.caFingerprint, sshCaFingerprint(ca.publicKey));
    assert.equal(cert.caPublicKey, ca.publicKey.split(' ').slice(0, 2).join(' '));
  }
});

test('the public key may be given parsed; every certificate gets a fresh nonce', () => {
  const a = parseSshCertificate(signSshUserCertificate(options({ publicKey: parseSshPublicKey(userKeys.ed25519) })));
  const b = parseSshCertificate(signSshUserCertificate(options()));
  assert.notDeepEqual(a.nonce, b.nonce);
});

test('times are whole seconds (rounded down); the serial covers the full uint64 range', () => {
  const cert = parseSshCertificate(signSshUserCertificate(options({ validAfter: T0 + 999, validBefore: T0 + HOUR + 1500, serial: (1n << 64n) - 1n })));
  assert.equal(cert.validAfter, T0);
  assert.equal(cert.validBefore, T0 + HOUR + 1000);
  assert.equal(cert.serial, (1n << 64n) - 1n);
  assert.equal(parseSshCertificate(signSshUserCertificate(options({ serial: 0n }))).serial, 0n);
});

test('extensions are sorted and de-duplicated; critical options carry their values', () => {
  const line = signSshUserCertificate(
    options({
      extensions: ['permit-pty', 'permit-X11-forwarding', 'permit-pty', 'no-touch-required'],
      criticalOptions: { 'source-address': '10.0.0.0/8,192.168.1.1', 'force-command': '/usr/bin/uptime', 'verify-required': '' },
    }),
  );
  const cert = parseSshCertificate(line);
  // Sorted by bytes: upper-case X sorts before lower-case letters.
  assert.deepEqual(cert.extensions, ['no-touch-required', 'permit-X11-forwarding', 'permit-pty']);
  assert.deepEqual(Object.keys(cert.criticalOptions), ['force-command', 'source-address', 'verify-required']);
  assert.deepEqual(cert.criticalOptions, { 'force-command': '/usr/bin/uptime', 'source-address': '10.0.0.0/8,192.168.1.1', 'verify-required': '' });
  assert.deepEqual(parseSshCertificate(signSshUserCertificate(options({ extensions: [] }))).extensions, []);
  assert.deepEqual([...DEFAULT_SSH_EXTENSIONS], ['permit-agent-forwarding', 'permit-port-forwarding', 'permit-pty']);
});

test('the wire layout follows PROTOCOL.certkeys field by field', () => {
  const line = signSshUserCertificate(options({ principals: ['root'] }));
  const r = new SshReader(Buffer.from(line.split(' ')[1] ?? '', 'base64'), 'cert');
  assert.equal(r.text(), 'ssh-ed25519-cert-v01@openssh.com');
  assert.equal(r.string().length, 32); // nonce
  assert.equal(r.string().length, 32); // the Ed25519 key itself
  assert.equal(r.uint64(), 7n);
  assert.equal(r.uint32(), 1); // SSH_CERT_TYPE_USER
  assert.equal(r.text(), 'alice');
  const principals = new SshReader(r.string(), 'principals');
  assert.equal(principals.text(), 'root');
  principals.end();
  assert.equal(r.uint64(), BigInt(T0 / 1000));
  assert.equal(r.uint64(), BigInt((T0 + HOUR) / 1000));
  assert.equal(r.string().length, 0); // no critical options
  const ext = new SshReader(r.string(), 'extensions');
  for (const name of DEFAULT_SSH_EXTENSIONS) {
    assert.equal(ext.text(), name);
    assert.equal(ext.string().length, 0, 'a flag extension has empty data');
  }
  ext.end();
  assert.equal(r.string().length, 0); // reserved
  assert.ok(r.string().equals(parseSshPublicKey(ca.publicKey).blob));
  const sig = new SshReader(r.string(), 'signature');
  assert.equal(sig.text(), 'ssh-ed25519');
  assert.equal(sig.string().length, 64);
  sig.end();
  r.end();
});

test('refuses requests that would make a dangerous or malformed certificate', () => {
  const bad = (over: Partial<SignSshUserCertificateOptions>, message: RegExp, code = 'BAD_REQUEST'): void => {
    assert.throws(() => signSshUserCertificate(options(over)), { code, message });
  };
  bad({ principals: [] }, /at least one principal/);
  bad({ principals: [''] }, /must not be empty/);
  bad({ principals: ['a b'] }, /spaces/);
  bad({ principals: ['a,b'] }, /commas/);
  bad({ principals: ['root\n'] }, /control characters/);
  bad({ principals: Array.from({ length: 257 }, (_, i) => `u${i}`) }, /at most 256/);
  bad({ keyId: '' }, /key id must not be empty/);
  bad({ keyId: 'alice\nAccepted publickey for root' }, /control characters/);
  bad({ validBefore: T0 }, /validBefore must be at least one second after validAfter/);
  bad({ validBefore: T0 + 500 }, /at least one second/);
  bad({ validAfter: -1 }, /validAfter/);
  bad({ validBefore: Number.NaN }, /validBefore/);
  bad({ serial: -1n }, /serial/);
  bad({ serial: 1n << 64n }, /serial/);
  bad({ extensions: ['permit pty'] }, /spaces/);
  bad({ criticalOptions: { '': 'x' } }, /must not be empty/);
  bad({ publicKey: 'ssh-dss AAAA' }, /DSA/, 'INVALID_SSH_KEY');
  bad({ publicKey: { ...parseSshPublicKey(userKeys.rsa), type: 'ssh-ed25519' } }, /holds a "ssh-rsa" key/, 'INVALID_SSH_KEY');
  bad({ caPublicKey: generateSshCa().publicKey }, /does not belong/, 'KEY_FILE_INVALID');
  bad({ caPrivateKeyPem: 'garbage' }, /PKCS#8/, 'KEY_FILE_INVALID');
});

test('any changed byte makes the certificate fail to parse, never crash', () => {
  const line = signSshUserCertificate(options());
  const [type, data] = line.split(' ');
  const bytes = Buffer.from(data ?? '', 'base64');
  for (let i = 0; i < bytes.length; i++) {
    const bad = Buffer.from(bytes);
    bad[i] = (bad[i] ?? 0) ^ 0x01;
    assert.throws(
      () => parseSshCertificate(`${type} ${bad.toString('base64')}`),
      (err: unknown) => err instanceof BulwarkError && err.code === 'INVALID_SSH_KEY',
      `byte ${i}`,
    );
  }
  for (const cut of [0, 10, 50, bytes.length - 1]) {
    assert.throws(() => parseSshCertificate(`${type} ${bytes.subarray(0, cut).toString('base64')}`), { code: 'INVALID_SSH_KEY' });
  }
  assert.throws(() => parseSshCertificate(userKeys.ed25519), { code: 'INVALID_SSH_KEY', message: /not an OpenSSH certificate/ });
  assert.throws(() => parseSshCertificate(`ssh-rsa-cert-v01@openssh.com ${data}`), { code: 'INVALID_SSH_KEY', message: /says ssh-rsa-cert/ });
});

describe('interoperability with ssh-keygen', () => {
  let dir: string;
  const keygen = (...args: string[]): string => execFileSync(SSH_KEYGEN, args, { encoding: 'utf8', env: { ...process.env, TZ: 'UTC' } });

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'bulwark-ssh-cert-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('ssh-keygen -L reads our certificates for ssh-keygen-made Ed25519, ECDSA and RSA keys', (t) => {
    if (!haveSshKeygen) return t.skip('ssh-keygen is not installed');
    for (const [name, args] of [
      ['ed25519', ['-t', 'ed25519']],
      ['ecdsa', ['-t', 'ecdsa', '-b', '256']],
      ['rsa', ['-t', 'rsa', '-b', '3072']],
    ] as const) {
      const file = join(dir, name);
      keygen('-q', ...args, '-N', '', '-f', file);
      const line = signSshUserCertificate(options({ publicKey: readFileSync(`${file}.pub`, 'utf8'), keyId: 'alice@example.com', serial: 123456789n }));
      writeFileSync(`${file}-cert.pub`, `${line}\n`);
      const out = keygen('-L', '-f', `${file}-cert.pub`);
      assert.match(out, new RegExp(`Type: ${line.split(' ')[0]} user certificate`), name);
      assert.match(out, /Key ID: "alice@example\.com"/);
      assert.match(out, /Serial: 123456789\n/);
      assert.match(out, /Valid: from 2026-01-01T12:00:00 to 2026-01-01T13:00:00/);
      assert.match(out, /Principals: \n\s+ubuntu\n\s+alice\n/);
      assert.match(out, /Critical Options: \(none\)/);
      assert.match(out, /Extensions: \n\s+permit-agent-forwarding\n\s+permit-port-forwarding\n\s+permit-pty\n/);
      assert.match(out, new RegExp(`Signing CA: ED25519 ${sshCaFingerprint(ca.publicKey).replace(/[+/]/g, '\\$&')} \\(using ssh-ed25519\\)`));
      assert.match(out, new RegExp(`Public key: \\S+-CERT ${parseSshPublicKey(readFileSync(`${file}.pub`, 'utf8')).fingerprint.replace(/[+/]/g, '\\$&')}`));
    }
  });

  it('parseSshCertificate reads certificates that ssh-keygen -s signs with Ed25519, ECDSA and RSA CAs', (t) => {
    if (!haveSshKeygen) return t.skip('ssh-keygen is not installed');
    keygen('-q', '-t', 'ed25519', '-N', '', '-C', 'bob', '-f', join(dir, 'user'));
    for (const [name, args] of [
      ['ca-ed25519', ['-t', 'ed25519']],
      ['ca-ecdsa', ['-t', 'ecdsa', '-b', '384']],
      ['ca-rsa', ['-t', 'rsa', '-b', '2048']],
    ] as const) {
      keygen('-q', ...args, '-N', '', '-f', join(dir, name));
      keygen('-q', '-s', join(dir, name), '-I', 'bob-id', '-n', 'bob,deploy', '-z', '42', '-V', '20260101000000Z:20260102000000Z', '-O', 'force-command=/bin/true', join(dir, 'user.pub'));
      const cert = parseSshCertificate(readFileSync(join(dir, 'user-cert.pub'), 'utf8'));
      assert.equal(cert.keyId, 'bob-id', name);
      assert.deepEqual(cert.principals, ['bob', 'deploy']);
      assert.equal(cert.serial, 42n);
      assert.equal(cert.validAfter, Date.UTC(2026, 0, 1));
      assert.equal(cert.validBefore, Date.UTC(2026, 0, 2));
      assert.deepEqual(cert.criticalOptions, { 'force-command': '/bin/true' });
      assert.ok(cert.extensions.includes('permit-pty'));
      assert.equal(cert.caFingerprint, sshCaFingerprint(readFileSync(join(dir, `${name}.pub`), 'utf8')));
      assert.equal(cert.publicKeyFingerprint, parseSshPublicKey(readFileSync(join(dir, 'user.pub'), 'utf8')).fingerprint);
    }
    // A certificate valid "forever" has validBefore Infinity.
    keygen('-q', '-s', join(dir, 'ca-ed25519'), '-I', 'forever', '-n', 'bob', join(dir, 'user.pub'));
    const forever = parseSshCertificate(readFileSync(join(dir, 'user-cert.pub'), 'utf8'));
    assert.equal(forever.validAfter, 0);
    assert.equal(forever.validBefore, Infinity);
  });
});
