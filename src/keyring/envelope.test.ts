import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { isBulwarkError } from '../core/errors.js';
import { bindingContext, KeyHierarchy, newKek } from './envelope.js';
import { MasterKeyKeyring } from './master-key-keyring.js';

const failed = (pattern?: RegExp) => (err: unknown) => isBulwarkError(err) && err.code === 'DECRYPT_FAILED' && (pattern === undefined || pattern.test(err.message));
const secretA = { table: 'secrets', id: 'app/db-password', version: 1 };
const secretB = { table: 'secrets', id: 'app/api-key', version: 1 };

test('a value encrypted for a record opens for that record only', () => {
  const master = new MasterKeyKeyring(randomBytes(32));
  const keys = new KeyHierarchy(master, [newKek(master, 1)]);
  const a = keys.encrypt(Buffer.from('hunter2'), secretA);
  const b = keys.encrypt(Buffer.from('sk_live_123'), secretB);
  assert.match(a, /^bwe1\.1\.[\w-]+\.[\w-]+\.[\w-]+\.[\w-]+$/);
  assert.ok(!a.includes(Buffer.from('hunter2').toString('base64url')));
  assert.equal(keys.decrypt(a, secretA).toString(), 'hunter2');
  // Swapped between records, or moved to another version or table, it does not open.
  assert.throws(() => keys.decrypt(a, secretB), failed(/another record/));
  assert.throws(() => keys.decrypt(a, { ...secretA, version: 2 }), failed());
  assert.throws(() => keys.decrypt(a, { ...secretA, table: 'backups' }), failed());
  // Two records' data-key halves spliced together do not open either.
  const [, , w1, w2] = b.split('.');
  const spliced = a.split('.');
  spliced[2] = w1 ?? '';
  spliced[3] = w2 ?? '';
  assert.throws(() => keys.decrypt(spliced.join('.'), secretA), failed());
  assert.throws(() => keys.decrypt('bwe1.1.x', secretA), failed(/malformed/));
  // The binding is unambiguous whatever the parts contain.
  assert.notEqual(bindingContext({ table: 'a:b', id: 'c', version: 1 }), bindingContext({ table: 'a', id: 'b:c', version: 1 }));
});

test('rotation: new values use the new key at once, old ones still open, and a re-wrap keeps the payload', () => {
  const master = new MasterKeyKeyring(randomBytes(32));
  const v1 = newKek(master, 1);
  const old = new KeyHierarchy(master, [v1]).encrypt(Buffer.from('before rotation'), secretA);
  const v2 = newKek(master, 2);
  const keys = new KeyHierarchy(master, [v1, v2]);
  assert.equal(keys.activeVersion, 2);
  assert.equal(keys.kekVersionOf(keys.encrypt(Buffer.from('after'), secretB)), 2);
  assert.equal(keys.kekVersionOf(old), 1);
  assert.equal(keys.decrypt(old, secretA).toString(), 'before rotation');
  const moved = keys.rewrap(old, secretA);
  assert.equal(keys.kekVersionOf(moved), 2);
  assert.equal(moved.split('.').slice(4).join('.'), old.split('.').slice(4).join('.'), 'the payload is untouched');
  assert.equal(keys.rewrap(moved, secretA), moved, 'a current value is left as it is');
  // Once version 1 is retired, only re-wrapped values open.
  const retired = new KeyHierarchy(master, [v2]);
  assert.equal(retired.decrypt(moved, secretA).toString(), 'before rotation');
  assert.throws(() => retired.decrypt(old, secretA), failed(/no longer holds/));
  assert.throws(() => keys.rewrap(old, secretB), failed(), 're-wrapping checks the binding');
});

test('KEKs sealed under another master key do not open', () => {
  const kek = newKek(new MasterKeyKeyring(randomBytes(32)), 1);
  assert.throws(() => new KeyHierarchy(new MasterKeyKeyring(randomBytes(32)), [kek]), failed(/wrong master key/));
});

test('a disposed hierarchy has forgotten its keys', () => {
  const master = new MasterKeyKeyring(randomBytes(32));
  const hierarchy = new KeyHierarchy(master, [newKek(master, 1)]);
  const binding = { table: 't', id: 'a', version: 1 };
  const sealed = hierarchy.encrypt(Buffer.from('x'), binding);
  hierarchy.dispose();
  assert.throws(() => hierarchy.decrypt(sealed, binding), { code: 'DECRYPT_FAILED' });
  assert.throws(() => hierarchy.encrypt(Buffer.from('x'), binding));
  // A master key disposed of no longer opens what it sealed.
  const kek = newKek(master, 2);
  master.dispose();
  assert.throws(() => new KeyHierarchy(master, [kek]), { code: 'DECRYPT_FAILED' });
});
