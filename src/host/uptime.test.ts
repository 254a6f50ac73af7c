import { test } from 'node:test';
import assert from 'node:assert/strict';
import { collectUptimeSeconds, parseUptime } from './uptime.js';
import { makeFixtureTree, removeFixtureTree } from './fixture-tree.js';

test('parseUptime takes the first number', () => {
  assert.equal(parseUptime('567.54 1098.12\n'), 567.54);
  assert.equal(parseUptime('12 3\n'), 12);
  assert.equal(parseUptime('garbage'), undefined);
});

test('collectUptimeSeconds reads /proc/uptime under the root', async (t) => {
  const root = await makeFixtureTree({ '/proc/uptime': '350735.47 234388.90\n' });
  const empty = await makeFixtureTree({});
  t.after(() => Promise.all([root, empty].map(removeFixtureTree)));
  assert.equal(await collectUptimeSeconds(root), 350735.47);
  assert.equal(await collectUptimeSeconds(empty), undefined);
});
