import { test } from 'node:test';
import assert from 'node:assert/strict';
import { collectHostname } from './hostname.js';
import { makeFixtureTree, removeFixtureTree } from './fixture-tree.js';

test('collectHostname prefers the kernel hostname over /etc/hostname', async (t) => {
  const root = await makeFixtureTree({ '/proc/sys/kernel/hostname': 'web-1\n', '/etc/hostname': 'stale\n' });
  t.after(() => removeFixtureTree(root));
  assert.equal(await collectHostname(root), 'web-1');
});

test('collectHostname falls back to /etc/hostname, skipping comments and blanks', async (t) => {
  const root = await makeFixtureTree({ '/etc/hostname': '# set by the installer\n\n  db-2  \n' });
  t.after(() => removeFixtureTree(root));
  assert.equal(await collectHostname(root), 'db-2');
});

test('collectHostname falls back when the kernel file cannot be read', async (t) => {
  const root = await makeFixtureTree({ '/proc/sys/kernel/hostname': { dir: true }, '/etc/hostname': 'db-3\n' });
  t.after(() => removeFixtureTree(root));
  assert.equal(await collectHostname(root), 'db-3');
});

test('collectHostname is undefined for a fixture tree without either file', async (t) => {
  const root = await makeFixtureTree({ '/etc/hostname': '\n' });
  t.after(() => removeFixtureTree(root));
  assert.equal(await collectHostname(root), undefined);
});
