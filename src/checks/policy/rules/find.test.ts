import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { makeFixtureTree, removeFixtureTree } from '../../../host/fixture-tree.js';
import { createFindRule, FIND_RULE, FindRuleSchema, type FindRule } from './find.js';
import { fixtureContext } from './test-context.js';

async function tree(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const root = await makeFixtureTree({
    '/usr/bin/passwd': 'x',
    '/usr/bin/wall': 'x',
    '/usr/bin/evil': 'x',
    '/usr/bin/ls': 'x',
    '/usr/lib/helper': 'x',
    '/usr/lib/lnk': { link: '/usr/bin/evil' },
    '/bin': { link: 'usr/bin' },
    '/tmp': { dir: true },
    '/srv/share/inner': { dir: true },
    '/proc/1/exe': 'x',
    '/run/lock': { dir: true },
  });
  t.after(() => removeFixtureTree(root));
  const modes: Record<string, number> = {
    '/usr/bin/passwd': 0o4755,
    '/usr/bin/wall': 0o2755,
    '/usr/bin/evil': 0o4755,
    '/usr/bin/ls': 0o755,
    '/usr/lib/helper': 0o4754,
    '/tmp': 0o1777,
    '/srv/share': 0o777,
    '/srv/share/inner': 0o755,
    '/proc/1/exe': 0o4755,
    '/run/lock': 0o777,
    '/': 0o755,
  };
  for (const [path, mode] of Object.entries(modes)) await chmod(join(root, path), mode);
  return root;
}

const suid = (under: string[], allow?: string[]): FindRule =>
  FindRuleSchema.parse({ find: { under, type: 'file', perm_any: '6000' }, allow, expect: 'none' });

test('find reports unexpected SUID/SGID files, walking a merged-/usr symlink once', async (t) => {
  const ctx = fixtureContext(await tree(t));
  const outcome = await FIND_RULE.evaluate(suid(['/usr', '/bin'], ['/usr/bin/passwd', '/usr/bin/wall']), ctx);
  assert.deepEqual(outcome, { result: false, evidence: '2 found under /usr, /bin: /usr/bin/evil (4755), /usr/lib/helper (4754)' });
});

test('find allow-lists accept globs, and a clean tree passes with the count of entries seen', async (t) => {
  const ctx = fixtureContext(await tree(t));
  const outcome = await FIND_RULE.evaluate(suid(['/usr'], ['/usr/bin/*', '/usr/**/helper']), ctx);
  // /usr, /usr/bin and its 4 files, /usr/lib and its 2 entries.
  assert.deepEqual(outcome, { result: true, evidence: 'no match under /usr (9 entries checked)' });
});

test('find never enters /proc, /sys, /dev or /run and skips symlinks', async (t) => {
  const ctx = fixtureContext(await tree(t));
  const rule = FindRuleSchema.parse({ find: { under: ['/'], world_writable: true }, expect: 'none' });
  const outcome = await FIND_RULE.evaluate(rule, ctx);
  assert.deepEqual(outcome, { result: false, evidence: '2 found under /: /srv/share (0777), /tmp (1777)' });
  const unsticky = FindRuleSchema.parse({ find: { under: ['/'], type: 'dir', world_writable: true, without_sticky: true }, expect: 'none' });
  assert.deepEqual(await FIND_RULE.evaluate(unsticky, ctx), { result: false, evidence: '1 found under /: /srv/share (0777)' });
});

test('find honours name, type, max_depth and expect: some', async (t) => {
  const ctx = fixtureContext(await tree(t));
  const byName = FindRuleSchema.parse({ find: { under: ['/usr'], name: '^(ls|wall)$', type: 'file' }, expect: 'some' });
  assert.deepEqual(await FIND_RULE.evaluate(byName, ctx), { result: true, evidence: '2 found under /usr: /usr/bin/ls (0755), /usr/bin/wall (2755)' });
  const shallow = FindRuleSchema.parse({ find: { under: ['/usr'], perm_any: '4000', max_depth: 1 }, expect: 'some' });
  assert.deepEqual(await FIND_RULE.evaluate(shallow, ctx), { result: false, evidence: 'no match under /usr (3 entries checked)' });
  const dirsOnly = FindRuleSchema.parse({ find: { under: ['/usr'], type: 'dir', perm_any: '6000' }, expect: 'none' });
  assert.equal((await FIND_RULE.evaluate(dirsOnly, ctx)).result, true);
});

test('find gives up with not_applicable past its entry bound', async (t) => {
  const ctx = fixtureContext(await tree(t));
  assert.deepEqual(await createFindRule(4).evaluate(suid(['/usr']), ctx), {
    result: 'not_applicable',
    evidence: 'too many entries under /usr: stopped after 4',
  });
});

test('find treats a start path that does not exist as empty', async (t) => {
  const ctx = fixtureContext(await tree(t));
  assert.deepEqual(await FIND_RULE.evaluate(suid(['/opt']), ctx), { result: true, evidence: 'no match under /opt (0 entries checked)' });
});

test('find options are validated strictly', () => {
  assert.equal(FindRuleSchema.safeParse({ find: { under: ['/usr'], perm_any: '9000' }, expect: 'none' }).success, false);
  assert.equal(FindRuleSchema.safeParse({ find: { under: ['usr'] }, expect: 'none' }).success, false);
  assert.equal(FindRuleSchema.safeParse({ find: { under: ['/usr'], follow: true }, expect: 'none' }).success, false);
  assert.equal(FindRuleSchema.safeParse({ find: { under: ['/usr'], name: '(' }, expect: 'none' }).success, false);
});

test('rules that look for special bits share one walk per evaluation, and a new evaluation walks again', async (t) => {
  const root = await tree(t);
  const ctx = fixtureContext(root);
  const writable = FindRuleSchema.parse({ find: { under: ['/'], type: 'file', world_writable: true }, expect: 'none' });
  const setid = FindRuleSchema.parse({ find: { under: ['/'], type: 'file', perm_any: '6000' }, allow: ['/usr/bin/passwd'], expect: 'none' });
  assert.deepEqual(await FIND_RULE.evaluate(writable, ctx), { result: true, evidence: 'no match under / (15 entries checked)' });
  assert.deepEqual(await FIND_RULE.evaluate(setid, ctx), { result: false, evidence: '3 found under /: /usr/bin/evil (4755), /usr/bin/wall (2755), /usr/lib/helper (4754)' });
  await chmod(join(root, '/usr/bin/ls'), 0o757);
  // The same evaluation keeps its view of the host; the next one sees the change.
  assert.equal((await FIND_RULE.evaluate(writable, ctx)).result, true);
  assert.deepEqual(await FIND_RULE.evaluate(writable, fixtureContext(root)), { result: false, evidence: '1 found under /: /usr/bin/ls (0757)' });
});
