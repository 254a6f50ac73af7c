import { test } from 'node:test';
import assert from 'node:assert/strict';
import { machine } from 'node:os';
import { collectArch } from './arch.js';
import { makeFixtureTree, removeFixtureTree } from './fixture-tree.js';

test('collectArch reads /proc/sys/kernel/arch under the root', async (t) => {
  const root = await makeFixtureTree({ '/proc/sys/kernel/arch': 'aarch64\n' });
  t.after(() => removeFixtureTree(root));
  assert.equal(await collectArch(root), 'aarch64');
});

test('collectArch is absent for a fixture tree without the file, never the test machine', async (t) => {
  const root = await makeFixtureTree({});
  t.after(() => removeFixtureTree(root));
  assert.equal(await collectArch(root), undefined);
});

test('collectArch answers for the live host', { skip: process.platform !== 'linux' && 'not Linux' }, async () => {
  assert.equal(await collectArch('/'), machine());
});
