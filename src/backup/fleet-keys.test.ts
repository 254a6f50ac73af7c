import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac, scryptSync } from 'node:crypto';
import { fleetNodeKey, fleetNodeLocation, fleetRootKey } from './fleet-keys.js';

// HKDF-SHA-256 (RFC 5869) spelled out with HMAC, so the test checks the documented derivation, not the module against itself.
function hkdf(ikm: Buffer, salt: Buffer, info: Buffer): Buffer {
  const prk = createHmac('sha256', salt.length === 0 ? Buffer.alloc(32) : salt).update(ikm).digest();
  return createHmac('sha256', prk).update(Buffer.concat([info, Buffer.from([1])])).digest();
}

const repo = 's3://backups/db';
const salt = createHash('sha256').update('bulwark-fleet-backup-v1:salt\0').update(repo).digest();

test('the root of a password policy is scrypt (N=2^15, r=8, p=4) of the password, salted by the repository location', async () => {
  const root = await fleetRootKey({ kind: 'password', password: 'correct horse battery' }, repo);
  assert.deepEqual(root, scryptSync('correct horse battery', salt, 32, { N: 2 ** 15, r: 8, p: 4, maxmem: 2 ** 26 }));
  const elsewhere = await fleetRootKey({ kind: 'password', password: 'correct horse battery' }, 's3://backups/web');
  assert.notDeepEqual(root, elsewhere, 'another repository location gives other roots');
});

test('the root of a key-file policy is HKDF of the file, and each node key is HKDF of the root and the node id', async () => {
  const file = Buffer.alloc(64, 0x5a);
  const root = await fleetRootKey({ kind: 'key-file', bytes: file }, repo);
  assert.deepEqual(root, hkdf(file, salt, Buffer.from('bulwark-fleet-backup-v1:root')));
  const node = fleetNodeKey(root, 'node_abc234');
  assert.deepEqual(node, hkdf(root, Buffer.alloc(0), Buffer.from('bulwark-fleet-backup-v1:node\0node_abc234')));
  assert.equal(node.length, 32);
  assert.deepEqual(fleetNodeKey(root, 'node_abc234'), node, 'deterministic');
  assert.notDeepEqual(fleetNodeKey(root, 'node_abc235'), node, 'one key per node');
  assert.notDeepEqual(node, root);
});

test('a node repository is a directory or prefix named by the node id; ids that are not one path component are refused', () => {
  assert.equal(fleetNodeLocation('/srv/backups', 'node_x'), '/srv/backups/node_x');
  assert.equal(fleetNodeLocation('s3://bucket', 'node_x'), 's3://bucket/node_x');
  assert.equal(fleetNodeLocation('s3://bucket/prefix/', 'node_x'), 's3://bucket/prefix/node_x');
  for (const bad of ['', '..', 'a/b', '../x', 'node x', '-flag', 'a..b', 'x'.repeat(200)]) {
    assert.throws(() => fleetNodeLocation('/srv', bad), { code: 'BAD_REQUEST' }, bad);
    assert.throws(() => fleetNodeKey(Buffer.alloc(32), bad), { code: 'BAD_REQUEST' }, bad);
  }
});
