import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac, scryptSync } from 'node:crypto';
import { FLEET_LOCATION_SUFFIX_MAX, fleetNodeKey, fleetNodeLocation, fleetRootKey } from './fleet-keys.js';

// HKDF-SHA-256 (RFC 5869) spelled out with HMAC, so the test checks the documented derivation, not the module against itself.
function hkdf(ikm: Buffer, salt: Buffer, info: Buffer): Buffer {
  const prk = createHmac('sha256', salt.length === 0 ? Buffer.alloc(32) : salt).update(ikm).digest();
  return createHmac('sha256', prk).update(Buffer.concat([info, Buffer.from([1])])).digest();
}

const salt = createHash('sha256').update('bulwark-fleet-backup-v1:salt\0').update('db').digest();

test('the root of a password policy is scrypt (N=2^16, r=8, p=4) of the password, salted by the policy name', async () => {
  const root = await fleetRootKey({ kind: 'password', password: 'correct horse battery' }, 'db');
  assert.deepEqual(root, scryptSync('correct horse battery', salt, 32, { N: 2 ** 16, r: 8, p: 4, maxmem: 2 ** 27 }));
  const other = await fleetRootKey({ kind: 'password', password: 'correct horse battery' }, 'web');
  assert.notDeepEqual(root, other, 'another policy gives another root');
});

test('the root of a key-file policy is HKDF of the file, and each node key is HKDF of the root and the node id', async () => {
  const file = Buffer.alloc(64, 0x5a);
  const root = await fleetRootKey({ kind: 'key-file', bytes: file }, 'db');
  assert.deepEqual(root, hkdf(file, salt, Buffer.from('bulwark-fleet-backup-v1:root')));
  const node = fleetNodeKey(root, 'node_abc234');
  assert.deepEqual(node, hkdf(root, Buffer.alloc(0), Buffer.from('bulwark-fleet-backup-v1:node\0node_abc234')));
  assert.equal(node.length, 32);
  assert.deepEqual(fleetNodeKey(root, 'node_abc234'), node, 'deterministic');
  assert.notDeepEqual(fleetNodeKey(root, 'node_abc235'), node, 'one key per node');
  assert.notDeepEqual(node, root);
});

test("a node's repository is <policy location>/<node id>/<epoch>: a new credential gives a new epoch", async () => {
  const root = Buffer.alloc(32, 1);
  const epoch = createHmac('sha256', root).update('bulwark-fleet-backup-v1:epoch').digest('hex').slice(0, 16);
  assert.equal(fleetNodeLocation('/srv/backups', root, 'node_x'), `/srv/backups/node_x/${epoch}`);
  assert.equal(fleetNodeLocation('s3://bucket', root, 'node_x'), `s3://bucket/node_x/${epoch}`);
  assert.equal(fleetNodeLocation('s3://bucket/prefix/', root, 'node_x'), `s3://bucket/prefix/node_x/${epoch}`);
  const rotated = await fleetRootKey({ kind: 'key-file', bytes: Buffer.alloc(64, 2) }, 'db');
  assert.notEqual(fleetNodeLocation('/srv', rotated, 'node_x'), fleetNodeLocation('/srv', root, 'node_x'));
  const longest = fleetNodeLocation('', root, `node_${'a'.repeat(64)}`);
  assert.equal(longest.length, FLEET_LOCATION_SUFFIX_MAX);
});

test('ids that are not server node ids, and a wiped root, are refused', () => {
  const root = Buffer.alloc(32, 1);
  for (const bad of ['', '..', 'node_a/b', '../x', 'node x', '-flag', 'data', 'keys', 'Node_abc', 'node_ABC', 'node_', `node_${'a'.repeat(65)}`]) {
    assert.throws(() => fleetNodeLocation('/srv', root, bad), { code: 'BAD_REQUEST' }, bad);
    assert.throws(() => fleetNodeKey(root, bad), { code: 'BAD_REQUEST' }, bad);
  }
  assert.throws(() => fleetNodeKey(Buffer.alloc(32), 'node_abc'), { code: 'INTERNAL' }, 'an all-zero (wiped) root derives nothing');
  assert.throws(() => fleetNodeLocation('/srv', Buffer.alloc(32), 'node_abc'), { code: 'INTERNAL' });
});
