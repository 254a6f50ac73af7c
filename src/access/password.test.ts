import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BulwarkError } from '../core/errors.js';
import { checkPasswordPolicy, DEFAULT_SCRYPT_PARAMS, DUMMY_PASSWORD_HASH, hashPassword, verifyAgainstDummy, verifyPassword } from './password.js';

// Cheap parameters keep the suite fast; one test uses the defaults.
const FAST = { ln: 4, r: 8, p: 1 };
const PASSWORD = 'correct horse battery staple';

test('a hash is self-describing and verifies its password only', async () => {
  const stored = await hashPassword(PASSWORD, FAST);
  const match = /^scrypt\$ln=4,r=8,p=1\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/.exec(stored);
  assert.ok(match, stored);
  assert.equal(Buffer.from(match[1] ?? '', 'base64').length, 16);
  assert.equal(Buffer.from(match[2] ?? '', 'base64').length, 32);
  assert.equal((await verifyPassword(PASSWORD, stored)).ok, true);
  assert.equal((await verifyPassword(`${PASSWORD}!`, stored)).ok, false);
  assert.equal((await verifyPassword('', stored)).ok, false);
});

test('each hash has its own salt', async () => {
  assert.notEqual(await hashPassword(PASSWORD, FAST), await hashPassword(PASSWORD, FAST));
});

test('the default parameters are recorded and need no rehash', async () => {
  const stored = await hashPassword(PASSWORD);
  assert.ok(stored.startsWith('scrypt$ln=15,r=8,p=1$'));
  assert.deepEqual(await verifyPassword(PASSWORD, stored), { ok: true, needsRehash: false });
  assert.deepEqual(DEFAULT_SCRYPT_PARAMS, { ln: 15, r: 8, p: 1 });
});

test('a hash made with weaker parameters asks for a rehash after a successful check', async () => {
  const stored = await hashPassword(PASSWORD, FAST);
  assert.deepEqual(await verifyPassword(PASSWORD, stored), { ok: true, needsRehash: true });
  // A failed check never asks for one: the caller has no password to rehash.
  assert.deepEqual(await verifyPassword('wrong password!', stored), { ok: false, needsRehash: false });
  assert.deepEqual(await verifyPassword(PASSWORD, await hashPassword(PASSWORD, { ln: 5, r: 4, p: 1 })), { ok: true, needsRehash: true });
});

test('Unicode forms of the same password verify alike', async () => {
  const composed = 'caf\u00e9 au lait, bitte';
  const decomposed = 'cafe\u0301 au lait, bitte';
  const stored = await hashPassword(composed, FAST);
  assert.equal((await verifyPassword(decomposed, stored)).ok, true);
});

test('malformed or hostile stored strings never verify and never throw', async () => {
  const good = await hashPassword(PASSWORD, FAST);
  const bad = [
    '',
    'plain',
    'scrypt$ln=4,r=8,p=1$c2FsdA',
    good.replace('scrypt$', 'bcrypt$'),
    good.replace('ln=4', 'ln=40'), // would need terabytes
    good.replace('ln=4', 'ln=0'),
    good.replace('r=8', 'r=99'),
    good.replace('p=1', 'p=0'),
    good.replace(/\$[^$]+$/, '$!!!'),
    good.replace(/\$[^$]+\$/, '$$'),
    'scrypt$ln=4,r=8,p=1$AAAA$AAAA', // salt and hash far too short
    `${good}$extra`,
    'x'.repeat(10_000),
    null as unknown as string,
  ];
  for (const stored of bad) {
    assert.deepEqual(await verifyPassword(PASSWORD, stored), { ok: false, needsRehash: false }, String(stored).slice(0, 60));
  }
});

test('hashPassword refuses out-of-range parameters', async () => {
  await assert.rejects(hashPassword(PASSWORD, { ln: 25, r: 8, p: 1 }), (err: unknown) => err instanceof BulwarkError && err.code === 'CONFIG_INVALID');
  await assert.rejects(hashPassword(PASSWORD, { ln: 4.5, r: 8, p: 1 }), BulwarkError);
});

test('the dummy hash is well formed with the default parameters, and the dummy check fails', async () => {
  assert.ok(DUMMY_PASSWORD_HASH.startsWith('scrypt$ln=15,r=8,p=1$'));
  // Well formed: a wrong password fails for the mismatch, not because parsing gave up early
  // (which would return at once and give unknown users away by timing).
  const started = performance.now();
  assert.deepEqual(await verifyPassword(PASSWORD, DUMMY_PASSWORD_HASH), { ok: false, needsRehash: false });
  const dummyMs = performance.now() - started;
  const real = await hashPassword(PASSWORD);
  const t0 = performance.now();
  await verifyPassword('wrong password!', real);
  const realMs = performance.now() - t0;
  assert.ok(dummyMs > realMs / 4, `dummy check took ${dummyMs.toFixed(1)} ms, a real one ${realMs.toFixed(1)} ms`);
  assert.equal(await verifyAgainstDummy(PASSWORD), false);
  assert.equal(await verifyAgainstDummy(PASSWORD, FAST), false);
});

test('the password policy takes 12 to 1024 characters', () => {
  const rejects = (password: string, pattern: RegExp): void =>
    assert.throws(() => checkPasswordPolicy(password), (err: unknown) => err instanceof BulwarkError && err.code === 'BAD_REQUEST' && pattern.test(err.message));
  rejects('', /too short: use at least 12/);
  rejects('elevenchars', /too short/);
  rejects('x'.repeat(1025), /too long: use at most 1024/);
  checkPasswordPolicy('twelve chars');
  checkPasswordPolicy('x'.repeat(1024));
  // Characters, not UTF-16 units or bytes: twelve emoji are twelve characters.
  checkPasswordPolicy('🔒'.repeat(12));
  rejects('🔒'.repeat(11), /too short/);
});
