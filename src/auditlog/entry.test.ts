import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mintToken } from '../core/secret-token.js';
import { isSecretKey, redactDetails, REDACTED } from './entry.js';

describe('redactDetails', () => {
  it('replaces values under keys that look secret, at any depth', () => {
    const out = redactDetails({
      user: 'alice',
      password: 'hunter2',
      newPassword: 'hunter3',
      api_token: 'x',
      totp: '123456',
      code: '654321',
      Authorization: 'Bearer abc',
      privateKey: '…',
      nested: { clientSecret: 's3cret', list: [{ sessionToken: 't' }, 'plain'] },
    });
    assert.deepEqual(out, {
      user: 'alice',
      password: REDACTED,
      newPassword: REDACTED,
      api_token: REDACTED,
      totp: REDACTED,
      code: REDACTED,
      Authorization: REDACTED,
      privateKey: REDACTED,
      nested: { clientSecret: REDACTED, list: [{ sessionToken: REDACTED }, 'plain'] },
    });
    assert.doesNotMatch(JSON.stringify(out), /hunter|s3cret|123456|654321|abc/);
  });

  it('keeps keys that name a secret without holding it', () => {
    for (const key of ['tokenId', 'keyId', 'secretName', 'publicKey', 'exitCode', 'statusCode', 'passwordChangedAt', 'tokenize', 'keyboard', 'role', 'node']) {
      assert.equal(isSecretKey(key), false, key);
    }
    for (const key of ['password', 'PASSWORD', 'db_password', 'x-api-key', 'apiKey', 'totpCode', 'mfa_code', 'refresh-token', 'cookie', 'credentials', 'passphrase']) {
      assert.equal(isSecretKey(key), true, key);
    }
  });

  it('redacts credentials found in values under innocent keys', () => {
    const { token } = mintToken('bwt');
    const out = redactDetails({ header: 'Bearer eyJhbGciOi', note: `used ${token} today`, pem: '-----BEGIN PRIVATE KEY-----\nMC4C…', ok: 'bwt is a prefix' });
    assert.deepEqual(out, { header: REDACTED, note: REDACTED, pem: REDACTED, ok: 'bwt is a prefix' });
    assert.ok(!JSON.stringify(out).includes(token));
  });

  it('returns a plain-JSON copy and leaves the input alone', () => {
    const input = { a: { password: 'p' }, skip: undefined, n: -0 };
    const out = redactDetails(input);
    assert.deepEqual(input.a, { password: 'p' });
    assert.deepEqual(out, { a: { password: REDACTED }, n: 0 });
    assert.ok(!('skip' in out));
  });

  it('keeps a __proto__ key a plain key', () => {
    const out = redactDetails(JSON.parse('{"__proto__": {"x": 1}}') as Record<string, unknown>);
    assert.equal(Object.getPrototypeOf(out), Object.prototype);
    assert.deepEqual(Object.keys(out), ['__proto__']);
  });

  it('refuses what the chain cannot hash stably', () => {
    for (const bad of [{ n: Number.NaN }, { n: Infinity }, { d: new Date(0) }, { b: 1n }, { f: () => 1 }, { s: '\ud800' }, { a: [undefined] }]) {
      assert.throws(() => redactDetails(bad as Record<string, unknown>), (err: unknown) => (err as { code?: string }).code === 'INTERNAL', JSON.stringify(Object.keys(bad)));
    }
  });
});
