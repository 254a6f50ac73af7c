import { test } from 'node:test';
import assert from 'node:assert/strict';
import { utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { makeFixtureTree, removeFixtureTree } from '../../../host/fixture-tree.js';
import { FILE_AGE_RULE, FileAgeRuleSchema } from './file-age.js';
import { fixtureContext } from './test-context.js';

const NOW = Date.UTC(2025, 0, 15);
const DAY = 86_400_000;

test('file_age compares the mtime with the audit clock', async (t) => {
  const root = await makeFixtureTree({ '/var/cache/apt/pkgcache.bin': 'x', '/var/lib/stamp': { link: '/var/cache/apt/pkgcache.bin' } });
  t.after(() => removeFixtureTree(root));
  const mtime = new Date(NOW - 3 * DAY - 3600_000);
  await utimes(join(root, '/var/cache/apt/pkgcache.bin'), mtime, mtime);
  const ctx = fixtureContext(root, { now: NOW });
  const run = (rule: unknown) => FILE_AGE_RULE.evaluate(FileAgeRuleSchema.parse(rule), ctx);
  assert.deepEqual(await run({ file_age: '/var/cache/apt/pkgcache.bin', max_days: 7 }), {
    result: true,
    evidence: '/var/cache/apt/pkgcache.bin modified 2025-01-11T23:00:00.000Z (3 days before the audit)',
  });
  assert.equal((await run({ file_age: '/var/cache/apt/pkgcache.bin', max_days: 3 })).result, false);
  assert.equal((await run({ file_age: '/var/lib/stamp', max_days: 7 })).result, true);
  assert.deepEqual(await run({ file_age: '/var/lib/none', max_days: 7 }), { result: false, evidence: '/var/lib/none not found' });
  assert.equal((await run({ file_age: '/var/lib/none', max_days: 7, if_missing: true })).result, true);
  assert.equal(FileAgeRuleSchema.safeParse({ file_age: '/x', max_days: -1 }).success, false);
});
