import { after, before, describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BulwarkError } from '../core/errors.js';
import {
  formatSshPublicKey,
  generateSshCa,
  parseSshPublicKey,
  sshCaFingerprint,
  sshCaPublicKeyFromPrivate,
  type SshKeyType,
} from './ssh-keys.js';
import { SshWriter } from './ssh-wire.js';

const SSH_KEYGEN = '/usr/bin/ssh-keygen';
const haveSshKeygen = existsSync(SSH_KEYGEN);
if (!haveSshKeygen) console.log(`ssh-keygen interop checks skipped: ${SSH_KEYGEN} is not installed (Debian package openssh-client)`);

const b64 = (line: string): string => line.split(' ')[1] ?? '';

/** `ssh-keygen -l` output: `<bits> <fingerprint> <comment> (<TYPE>)`. */
function keygenFingerprint(pubLine: string, dir: string): { bits: number; fingerprint: string } {
  const file = join(dir, `fp-${randomBytes(4).toString('hex')}.pub`);
  writeFileSync(file, `${pubLine}\n`);
  const [bits, fingerprint] = execFileSync(SSH_KEYGEN, ['-l', '-f', file], { encoding: 'utf8' }).split(' ');
  return { bits: Number(bits), fingerprint: fingerprint ?? '' };
}

describe('parseSshPublicKey on real keys', () => {
  let dir: string;
  const keys: { name: string; type: SshKeyType; bits: number; line: string }[] = [];

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'bulwark-ssh-keys-'));
    const wanted: [string, SshKeyType, number, string[]][] = [
      ['ed25519', 'ssh-ed25519', 256, ['-t', 'ed25519']],
      ['ecdsa-p256', 'ecdsa-sha2-nistp256', 256, ['-t', 'ecdsa', '-b', '256']],
      ['rsa-3072', 'ssh-rsa', 3072, ['-t', 'rsa', '-b', '3072']],
    ];
    for (const [name, type, bits, args] of wanted) {
      let line: string;
      if (haveSshKeygen) {
        const file = join(dir, name);
        execFileSync(SSH_KEYGEN, ['-q', ...args, '-N', '', '-C', `alice@${name}`, '-f', file]);
        line = readFileSync(`${file}.pub`, 'utf8');
      } else {
        const pair =
          type === 'ssh-ed25519'
            ? generateKeyPairSync('ed25519')
            : type === 'ssh-rsa'
              ? generateKeyPairSync('rsa', { modulusLength: 3072 })
              : generateKeyPairSync('ec', { namedCurve: 'P-256' });
        line = `${formatSshPublicKey(pair.publicKey, `alice@${name}`)}\n`;
      }
      keys.push({ name, type, bits, line });
    }
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads type, blob, comment, bits and the SHA256 fingerprint', () => {
    for (const k of keys) {
      const parsed = parseSshPublicKey(k.line);
      assert.equal(parsed.type, k.type, k.name);
      assert.equal(parsed.bits, k.bits, k.name);
      assert.equal(parsed.comment, `alice@${k.name}`);
      assert.equal(parsed.blob.toString('base64'), b64(k.line));
      const digest = createHash('sha256').update(parsed.blob).digest('base64').replace(/=+$/, '');
      assert.equal(parsed.fingerprint, `SHA256:${digest}`);
    }
  });

  it('prints the same fingerprint and size as ssh-keygen -l', (t) => {
    if (!haveSshKeygen) return t.skip('ssh-keygen is not installed');
    for (const k of keys) {
      const parsed = parseSshPublicKey(k.line);
      assert.deepEqual(keygenFingerprint(k.line, dir), { bits: parsed.bits, fingerprint: parsed.fingerprint }, k.name);
    }
  });

  it('accepts a line without a comment and surrounding whitespace', () => {
    for (const k of keys) {
      const bare = `  ${k.type} ${b64(k.line)}  \n`;
      const parsed = parseSshPublicKey(bare);
      assert.equal(parsed.comment, undefined);
      assert.equal(parsed.type, k.type);
    }
  });

  it('refuses a key whose data holds another type than its line says', () => {
    const [ed, ec] = keys;
    assert.ok(ed && ec);
    assert.throws(() => parseSshPublicKey(`ssh-rsa ${b64(ed.line)}`), {
      code: 'INVALID_SSH_KEY',
      message: /says "ssh-rsa" but its data holds a "ssh-ed25519" key/,
    });
    assert.throws(() => parseSshPublicKey(`ecdsa-sha2-nistp384 ${b64(ec.line)}`), { code: 'INVALID_SSH_KEY' });
  });

  it('refuses an authorized_keys options prefix', () => {
    const [ed] = keys;
    assert.ok(ed);
    for (const prefix of ['no-pty', 'restrict', 'from="10.0.0.1"', 'command="ls -l"', 'cert-authority']) {
      assert.throws(() => parseSshPublicKey(`${prefix} ${ed.line}`), { code: 'INVALID_SSH_KEY', message: /options are not allowed/ }, prefix);
    }
  });

  it('refuses a certificate, pointing at the public key', (t) => {
    if (!haveSshKeygen) return t.skip('ssh-keygen is not installed');
    execFileSync(SSH_KEYGEN, ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'ca')]);
    execFileSync(SSH_KEYGEN, ['-q', '-s', join(dir, 'ca'), '-I', 'alice', '-n', 'alice', join(dir, 'ed25519.pub')], { stdio: 'ignore' });
    const cert = readFileSync(join(dir, 'ed25519-cert.pub'), 'utf8');
    assert.throws(() => parseSshPublicKey(cert), { code: 'INVALID_SSH_KEY', message: /certificate, not a public key/ });
  });

  it('refuses the private key file itself', () => {
    if (!haveSshKeygen) return;
    const priv = readFileSync(join(dir, 'ed25519'), 'utf8');
    assert.throws(() => parseSshPublicKey(priv), { code: 'INVALID_SSH_KEY', message: /private key: never share it/ });
  });
});

test('node:crypto keys of every accepted kind round-trip through formatSshPublicKey', () => {
  const pairs: [SshKeyType, ReturnType<typeof generateKeyPairSync>][] = [
    ['ssh-ed25519', generateKeyPairSync('ed25519')],
    ['ecdsa-sha2-nistp256', generateKeyPairSync('ec', { namedCurve: 'P-256' })],
    ['ecdsa-sha2-nistp384', generateKeyPairSync('ec', { namedCurve: 'P-384' })],
    ['ecdsa-sha2-nistp521', generateKeyPairSync('ec', { namedCurve: 'P-521' })],
    ['ssh-rsa', generateKeyPairSync('rsa', { modulusLength: 2048 })],
  ];
  for (const [type, pair] of pairs) {
    const line = formatSshPublicKey(pair.publicKey, 'c');
    const parsed = parseSshPublicKey(line);
    assert.equal(parsed.type, type);
    assert.equal(formatSshPublicKey(pair.privateKey, 'c'), line, 'a private key gives its public line');
  }
});

function invalid(text: string, message?: RegExp): void {
  assert.throws(
    () => parseSshPublicKey(text),
    (err: unknown) => {
      assert.ok(err instanceof BulwarkError, `${String(err)} for ${JSON.stringify(text.slice(0, 60))}`);
      assert.equal(err.code, 'INVALID_SSH_KEY');
      assert.ok(!err.message.includes('\n'), 'the message is one line');
      if (message) assert.match(err.message, message);
      return true;
    },
  );
}

test('refuses garbage, DSA, security keys, short RSA and malformed data with a one-line reason', () => {
  const ed = formatSshPublicKey(generateKeyPairSync('ed25519').publicKey);
  const data = b64(ed);
  invalid('', /empty/);
  invalid('   \n', /empty/);
  invalid('hello world', /"hello" is not an SSH public key type/);
  invalid(`ssh-dss ${data}`, /DSA keys are not accepted/);
  invalid(`sk-ssh-ed25519@openssh.com ${data}`, /security-key/);
  invalid('ssh-ed25519', /no key data/);
  invalid(`ssh-ed25519 ${data.slice(0, -4)}`, /malformed/);
  invalid(`ssh-ed25519 ${data.slice(1)}`, /base64/);
  invalid(`ssh-ed25519 ${data}!`, /base64/);
  invalid(`${ed}\n${ed}`, /exactly one/);
  invalid('---- BEGIN SSH2 PUBLIC KEY ----\nAAAA\n---- END SSH2 PUBLIC KEY ----', /RFC 4716/);
  invalid(createPublicKey(generateKeyPairSync('ed25519').privateKey).export({ type: 'spki', format: 'pem' }).toString(), /PEM/);
  invalid(`ssh-ed25519 ${'A'.repeat(20_000)}`, /at most/);

  const short = formatSshPublicKey(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey);
  invalid(short, /1024-bit RSA key; at least 2048 bits/);

  const wire = (w: SshWriter): string => w.toBuffer().toString('base64');
  invalid(`ssh-ed25519 ${wire(new SshWriter().string('ssh-ed25519').string(randomBytes(31)))}`, /32 bytes, not 31/);
  invalid(`ssh-ed25519 ${wire(new SshWriter().string('ssh-ed25519').string(randomBytes(32)).uint32(0))}`, /trailing bytes/);
  const ec = createPublicKey(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey).export({ format: 'jwk' });
  const x = Buffer.from(ec.x ?? '', 'base64url');
  const y = Buffer.from(ec.y ?? '', 'base64url');
  y[31] = (y[31] ?? 0) ^ 1;
  const offCurve = new SshWriter().string('ecdsa-sha2-nistp256').string('nistp256').string(Buffer.concat([Buffer.from([4]), x, y]));
  invalid(`ecdsa-sha2-nistp256 ${wire(offCurve)}`, /not a valid public key/);
  const compressed = new SshWriter().string('ecdsa-sha2-nistp256').string('nistp256').string(Buffer.concat([Buffer.from([2]), x]));
  invalid(`ecdsa-sha2-nistp256 ${wire(compressed)}`, /uncompressed/);
  const wrongCurve = new SshWriter().string('ecdsa-sha2-nistp256').string('nistp384').string(Buffer.concat([Buffer.from([4]), x, y]));
  invalid(`ecdsa-sha2-nistp256 ${wire(wrongCurve)}`, /names curve "nistp384"/);
  const evenExponent = new SshWriter().string('ssh-rsa').mpint(65536n).mpint((1n << 2047n) + 1n);
  invalid(`ssh-rsa ${wire(evenExponent)}`, /exponent/);
});

test('random corruption of a key never escapes as anything but INVALID_SSH_KEY', () => {
  const lines = [
    formatSshPublicKey(generateKeyPairSync('ed25519').publicKey),
    formatSshPublicKey(generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey),
    formatSshPublicKey(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey),
  ];
  for (const line of lines) {
    const [type, data] = line.split(' ');
    const blob = Buffer.from(data ?? '', 'base64');
    for (let i = 0; i < 300; i++) {
      const bad = Buffer.from(blob);
      const at = i % bad.length;
      bad[at] = (bad[at] ?? 0) ^ (1 + (i % 255));
      const cut = i % 3 === 0 ? bad.subarray(0, at) : bad;
      try {
        parseSshPublicKey(`${type} ${cut.toString('base64')}`);
      } catch (err) {
        assert.ok(err instanceof BulwarkError && err.code === 'INVALID_SSH_KEY', String(err));
      }
    }
  }
});

test('generateSshCa makes an Ed25519 CA whose line and PKCS#8 key belong together', (t) => {
  const ca = generateSshCa();
  assert.match(ca.publicKey, /^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI[A-Za-z0-9+/]+=* bulwark-user-ca$/);
  assert.match(ca.privateKeyPem, /^-----BEGIN PRIVATE KEY-----\n/);
  assert.equal(createPrivateKey(ca.privateKeyPem).asymmetricKeyType, 'ed25519');
  assert.equal(sshCaPublicKeyFromPrivate(ca.privateKeyPem, 'bulwark-user-ca'), ca.publicKey);
  assert.equal(generateSshCa('prod-user-ca').publicKey.endsWith(' prod-user-ca'), true);
  assert.notEqual(generateSshCa().publicKey, ca.publicKey);
  assert.throws(() => sshCaPublicKeyFromPrivate('nope'), { code: 'KEY_FILE_INVALID' });
  const ecPem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  assert.throws(() => sshCaPublicKeyFromPrivate(ecPem), { code: 'KEY_FILE_INVALID', message: /not an Ed25519 key/ });

  if (!haveSshKeygen) return t.skip('ssh-keygen is not installed');
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-ssh-ca-'));
  try {
    assert.deepEqual(keygenFingerprint(ca.publicKey, dir), { bits: 256, fingerprint: sshCaFingerprint(ca.publicKey) });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
