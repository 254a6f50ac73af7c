import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { MasterKeyKeyring, masterKeyId } from './master-key-keyring.js';
import type { Keyring } from './keyring.js';

const plaintext = Buffer.from('-----BEGIN PRIVATE KEY-----\nsecret\n');

function keyring(): Keyring {
  return new MasterKeyKeyring(randomBytes(32));
}

function assertDecryptFailed(fn: () => unknown): void {
  assert.throws(fn, (err: unknown) => {
    assert.equal((err as { code?: string }).code, 'DECRYPT_FAILED');
    const message = (err as Error).message;
    assert.doesNotMatch(message, /secret/);
    assert.ok(!message.includes(plaintext.toString('base64url')));
    return true;
  });
}

test('seal then open returns the plaintext', () => {
  const ring = keyring();
  const sealed = ring.seal(plaintext, 'cluster_state:ca.key');
  assert.match(sealed, new RegExp(`^bwk1\\.${ring.keyId}\\.[A-Za-z0-9_-]{16}\\.[A-Za-z0-9_-]+$`));
  assert.deepEqual(ring.open(sealed, 'cluster_state:ca.key'), plaintext);
  assert.deepEqual(ring.open(ring.seal(new Uint8Array(0), 'empty'), 'empty'), Buffer.alloc(0));
});

test('the keyId is derived from the key and identifies it', () => {
  const key = randomBytes(32);
  assert.equal(new MasterKeyKeyring(key).keyId, masterKeyId(key));
  assert.match(masterKeyId(key), /^[0-9a-f]{16}$/);
  assert.notEqual(masterKeyId(key), masterKeyId(randomBytes(32)));
  assert.throws(() => new MasterKeyKeyring(randomBytes(16)), { code: 'KEY_FILE_INVALID' });
});

test('opening under another context fails', () => {
  const ring = keyring();
  const sealed = ring.seal(plaintext, 'cluster_state:ca.key');
  assertDecryptFailed(() => ring.open(sealed, 'cluster_state:ssh_ca.key'));
  assertDecryptFailed(() => ring.open(sealed, 'cluster_state:ca.key '));
});

test('opening under another key fails and names both key ids', () => {
  const a = keyring();
  const b = keyring();
  const sealed = a.seal(plaintext, 'x');
  assert.throws(() => b.open(sealed, 'x'), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'DECRYPT_FAILED');
    assert.ok(err.message.includes(a.keyId) && err.message.includes(b.keyId));
    return true;
  });
  // A forged keyId does not help: the key id is also bound into the AAD and the key itself differs.
  const forged = sealed.replace(a.keyId, b.keyId);
  assertDecryptFailed(() => b.open(forged, 'x'));
});

test('any tampered byte fails', () => {
  const ring = keyring();
  const sealed = ring.seal(plaintext, 'x');
  const [version, keyId, nonce, body] = sealed.split('.') as [string, string, string, string];
  const raw = Buffer.from(body, 'base64url');
  for (let i = 0; i < raw.length; i++) {
    const copy = Buffer.from(raw);
    copy[i] = (copy[i] ?? 0) ^ 0x01;
    assertDecryptFailed(() => ring.open(`${version}.${keyId}.${nonce}.${copy.toString('base64url')}`, 'x'));
  }
  const n = Buffer.from(nonce, 'base64url');
  n[0] = (n[0] ?? 0) ^ 0x80;
  assertDecryptFailed(() => ring.open(`${version}.${keyId}.${n.toString('base64url')}.${body}`, 'x'));
  assertDecryptFailed(() => ring.open(`${version}.${keyId}.${nonce}.${body.slice(0, -4)}`, 'x'));
});

test('malformed input fails with DECRYPT_FAILED', () => {
  const ring = keyring();
  const sealed = ring.seal(plaintext, 'x');
  for (const bad of ['', 'garbage', sealed.replace('bwk1', 'bwk2'), `${sealed}.x`, sealed.replace(/\.[^.]+$/, '.!!!!'), sealed.replace(/\.[^.]+$/, '.AAAA')]) {
    assertDecryptFailed(() => ring.open(bad, 'x'));
  }
  assertDecryptFailed(() => ring.open(undefined as unknown as string, 'x'));
});

test('two seals of the same plaintext differ', () => {
  const ring = keyring();
  const a = ring.seal(plaintext, 'x');
  const b = ring.seal(plaintext, 'x');
  assert.notEqual(a, b);
  assert.notEqual(a.split('.')[2], b.split('.')[2]);
});
