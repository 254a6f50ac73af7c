import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { isBulwarkError } from '../core/errors.js';
import { unwrapWithPassphrase, wrapWithPassphrase } from './passphrase.js';

// The lowest accepted cost keeps the tests quick; the default is 2^17.
const CHEAP = { log2N: 14, r: 8, p: 1 };
const code = (c: string, pattern?: RegExp) => (err: unknown) => isBulwarkError(err) && err.code === c && (pattern === undefined || pattern.test(err.message));

test('a master key wrapped under a passphrase comes back with it, and only with it', async () => {
  const key = randomBytes(32);
  const wrapped = await wrapWithPassphrase(key, 'correct horse battery staple', CHEAP);
  assert.match(wrapped, /^bwp1\.14\.8\.1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
  assert.ok(!wrapped.includes(key.toString('base64url')));
  assert.deepEqual(await unwrapWithPassphrase(wrapped, 'correct horse battery staple'), key);
  await assert.rejects(unwrapWithPassphrase(wrapped, 'correct horse battery stapler'), code('UNSEAL_FAILED', /wrong passphrase/));
  // Two wraps of one key differ (fresh salt and nonce).
  assert.notEqual(await wrapWithPassphrase(key, 'correct horse battery staple', CHEAP), wrapped);
});

test('the stored cost is authenticated and bounded: lowering or inflating it is refused', async () => {
  const wrapped = await wrapWithPassphrase(randomBytes(32), 'a long enough passphrase', { log2N: 15, r: 8, p: 1 });
  await assert.rejects(unwrapWithPassphrase(wrapped.replace('bwp1.15.', 'bwp1.14.'), 'a long enough passphrase'), code('UNSEAL_FAILED'));
  await assert.rejects(unwrapWithPassphrase(wrapped.replace('bwp1.15.', 'bwp1.30.'), 'a long enough passphrase'), code('KEY_FILE_INVALID', /outside what Bulwark accepts/));
  await assert.rejects(unwrapWithPassphrase('bwp1.nonsense', 'a long enough passphrase'), code('KEY_FILE_INVALID'));
});

test('a short passphrase is refused before anything is derived', async () => {
  await assert.rejects(wrapWithPassphrase(randomBytes(32), 'short', CHEAP), code('BAD_REQUEST', /at least 12 characters/));
});
