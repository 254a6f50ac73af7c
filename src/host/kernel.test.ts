import { test } from 'node:test';
import assert from 'node:assert/strict';
import { collectKernel } from './kernel.js';
import { makeFixtureTree, removeFixtureTree } from './fixture-tree.js';

test('collectKernel reads /proc/sys/kernel/osrelease', async (t) => {
  const root = await makeFixtureTree({ '/proc/sys/kernel/osrelease': '6.1.0-28-amd64\n' });
  const empty = await makeFixtureTree({});
  t.after(() => Promise.all([root, empty].map(removeFixtureTree)));
  assert.equal(await collectKernel(root), '6.1.0-28-amd64');
  assert.equal(await collectKernel(empty), undefined);
});
