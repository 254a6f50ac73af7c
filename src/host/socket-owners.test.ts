import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findSocketOwners } from './socket-owners.js';
import { type FixtureEntry, makeFixtureTree, removeFixtureTree } from './fixture-tree.js';

test('findSocketOwners gives a socket shared by several processes to the lowest pid', async (t) => {
  const entries: Record<string, FixtureEntry> = {
    '/proc/120/comm': 'nginx\n',
    '/proc/120/fd/6': { link: 'socket:[7001]' },
  };
  // Workers forked after the master hold the same listening socket.
  for (const pid of [1000, 20, 999, 1001]) {
    entries[`/proc/${pid}/comm`] = pid === 20 ? 'init-helper\n' : 'nginx\n';
    entries[`/proc/${pid}/fd/6`] = { link: pid === 20 ? 'socket:[1]' : 'socket:[7001]' };
  }
  const root = await makeFixtureTree(entries);
  t.after(() => removeFixtureTree(root));
  const owners = await findSocketOwners(root, new Set([7001]));
  assert.deepEqual([...owners], [[7001, { pid: 120, name: 'nginx' }]]);
});

test('findSocketOwners copes with a process holding thousands of fds', async (t) => {
  const entries: Record<string, FixtureEntry> = { '/proc/4242/comm': 'busy\n' };
  for (let fd = 0; fd < 3000; fd++) entries[`/proc/4242/fd/${fd}`] = { link: `socket:[${100000 + fd}]` };
  entries['/proc/5000/comm'] = 'other\n';
  entries['/proc/5000/fd/3'] = { link: 'socket:[200000]' };
  const root = await makeFixtureTree(entries);
  t.after(() => removeFixtureTree(root));
  const owners = await findSocketOwners(root, new Set([102999, 100000, 200000, 424242]));
  assert.deepEqual(owners.get(100000), { pid: 4242, name: 'busy' });
  assert.deepEqual(owners.get(102999), { pid: 4242, name: 'busy' });
  assert.deepEqual(owners.get(200000), { pid: 5000, name: 'other' });
  assert.equal(owners.has(424242), false);
});

test('findSocketOwners does nothing for no inodes and survives a missing /proc', async (t) => {
  const root = await makeFixtureTree({});
  t.after(() => removeFixtureTree(root));
  assert.equal((await findSocketOwners(root, new Set())).size, 0);
  assert.equal((await findSocketOwners(root, new Set([1]))).size, 0);
});
