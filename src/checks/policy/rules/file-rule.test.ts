import assert from 'node:assert/strict';
import { chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeFixtureTree, removeFixtureTree } from '../../../host/fixture-tree.js';
import { createRuleContext } from '../context.js';
import { createRootedHost } from '../rooted-host.js';
import { FILE_RULE, FileRuleSchema } from './file-rule.js';
import type { RuleOutcome } from './types.js';

const uid = process.getuid?.() ?? 0;
const gid = process.getgid?.() ?? 0;
let root = '';

function run(rule: unknown): Promise<RuleOutcome> {
  return FILE_RULE.evaluate(FileRuleSchema.parse(rule), createRuleContext(createRootedHost(root), 0));
}

describe('file rule', () => {
  before(async () => {
    root = await makeFixtureTree({
      // The tree's files belong to whoever runs the tests: first in the tree's passwd and group, so they name them.
      '/etc/passwd': `auditor:x:${uid}:${gid}::/home/auditor:/bin/sh\nroot:x:0:0::/root:/bin/sh\n`,
      '/etc/group': `auditors:x:${gid}:\nroot:x:0:\n`,
      '/etc/shadow': 'root:*:1::::::\n',
      '/usr/bin/helper': '#!/bin/sh\n',
      '/etc/shadow-link': { link: '/etc/shadow' },
    });
    await chmod(join(root, 'etc/shadow'), 0o644);
    await chmod(join(root, 'usr/bin/helper'), 0o4755);
  });
  after(() => removeFixtureTree(root));

  it('fails a mode with any bit outside mode_max, setuid included', async () => {
    assert.deepEqual(await run({ file: '/etc/shadow', mode_max: '0640' }), { result: false, evidence: '/etc/shadow mode 0644 (allowed at most 0640)' });
    assert.deepEqual(await run({ file: '/etc/shadow', mode_max: '644' }), { result: true, evidence: '/etc/shadow mode 0644, owner auditor, group auditors' });
    assert.deepEqual(await run({ file: '/usr/bin/helper', mode_max: '0755' }), { result: false, evidence: '/usr/bin/helper mode 4755 (allowed at most 0755)' });
  });

  it('checks owner and group by name or id, through the root’s passwd and group', async () => {
    assert.deepEqual(await run({ file: '/etc/shadow', owner: 'root', group: ['root', 'shadow'] }), {
      result: false,
      evidence: '/etc/shadow owner auditor (allowed: root); /etc/shadow group auditors (allowed: root, shadow)',
    });
    assert.deepEqual(await run({ file: '/etc/shadow', owner: ['root', 'auditor'], group: gid }), { result: true, evidence: '/etc/shadow mode 0644, owner auditor, group auditors' });
    assert.deepEqual(await run({ file: '/etc/shadow', owner: String(uid) }), { result: true, evidence: '/etc/shadow mode 0644, owner auditor, group auditors' });
  });

  it('follows symlinks inside the root', async () => {
    assert.deepEqual(await run({ file: '/etc/shadow-link', mode_max: '0640' }), { result: false, evidence: '/etc/shadow-link mode 0644 (allowed at most 0640)' });
  });

  it('treats a missing file by exists, else by if_missing', async () => {
    assert.deepEqual(await run({ file: '/etc/nope', mode_max: '0600' }), { result: false, evidence: '/etc/nope does not exist' });
    assert.deepEqual(await run({ file: '/etc/nope', mode_max: '0600', if_missing: true }), { result: true, evidence: '/etc/nope does not exist' });
    assert.deepEqual(await run({ file: '/etc/nope', exists: false }), { result: true, evidence: '/etc/nope does not exist' });
    assert.deepEqual(await run({ file: '/etc/shadow', exists: false }), { result: false, evidence: '/etc/shadow exists' });
    assert.deepEqual(await run({ file: '/etc/shadow' }), { result: true, evidence: '/etc/shadow exists' });
    assert.deepEqual(await run({ file: '/etc/nope', exists: true, if_missing: true }), { result: false, evidence: '/etc/nope does not exist' });
  });

  it('refuses options that cannot be meant', () => {
    assert.equal(FileRuleSchema.safeParse({ file: '/x', mode_max: 640 }).error?.issues[0]?.message, "must be a quoted octal mode such as '0640' (unquoted, 0640 is read as the number 640)");
    assert.equal(FileRuleSchema.safeParse({ file: '/x', mode_max: '0999' }).error?.issues[0]?.message, "must be an octal mode such as '0640'");
    assert.equal(FileRuleSchema.safeParse({ file: '/x', exists: false, owner: 'root' }).error?.issues[0]?.message, 'exists: false cannot be combined with mode_max, owner or group');
    assert.equal(FileRuleSchema.safeParse({ file: 'x' }).error?.issues[0]?.message, 'must be an absolute path');
  });
});
