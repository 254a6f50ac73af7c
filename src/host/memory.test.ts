import { test } from 'node:test';
import assert from 'node:assert/strict';
import { collectMemoryBytes, parseMemTotal } from './memory.js';
import { makeFixtureTree, removeFixtureTree } from './fixture-tree.js';

const MEMINFO = 'MemTotal:       24683620 kB\nMemFree:        22145312 kB\nMemAvailable:   23090448 kB\n';

test('parseMemTotal converts kB (KiB) to bytes', () => {
  assert.equal(parseMemTotal(MEMINFO), 24683620 * 1024);
  assert.equal(parseMemTotal('MemFree: 1 kB\n'), undefined);
});

test('collectMemoryBytes reads /proc/meminfo under the root', async (t) => {
  const root = await makeFixtureTree({ '/proc/meminfo': MEMINFO });
  const empty = await makeFixtureTree({});
  t.after(() => Promise.all([root, empty].map(removeFixtureTree)));
  assert.equal(await collectMemoryBytes(root), 25276026880);
  assert.equal(await collectMemoryBytes(empty), undefined);
});
