import assert from 'node:assert/strict';
import { chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeFixtureTree, removeFixtureTree } from '../../../host/fixture-tree.js';
import { createRuleContext } from '../context.js';
import { createRootedHost } from '../rooted-host.js';
import { FindRuleSchema, createFindRule } from './find.js';
import { walkHostTree } from './host-tree-walk.js';
import type { RuleContext } from './types.js';

let root = '';

function context(deniedPaths?: string[]): RuleContext {
  return createRuleContext(createRootedHost(root, deniedPaths === undefined ? {} : { deniedPaths }), 0);
}

async function walked(ctx: RuleContext, starts: string[]): Promise<string[]> {
  const seen: string[] = [];
  await walkHostTree(ctx, starts, { maxEntries: 1_000 }, (entry) => seen.push(entry.path));
  return seen;
}

describe('walkHostTree', () => {
  before(async () => {
    root = await makeFixtureTree({
      '/srv/a.conf': 'a\n',
      '/srv/agent/node.key': 'key\n',
      '/srv/agent/sub/state.json': '{}\n',
      '/srv/to-agent': { link: '/srv/agent' },
      '/etc/hostname': 'h\n',
      '/etc/proc-link': { link: '/proc' },
      '/proc/1/exe': 'x',
      '/proc/kmsg': 'x',
    });
    for (const file of ['/srv/agent/node.key', '/srv/agent/sub/state.json']) await chmod(join(root, file), 0o644);
  });
  after(() => removeFixtureTree(root));

  it('passes over a denied subtree as if it were not there, refusing nothing', async () => {
    const ctx = context(['/srv/agent']);
    assert.deepEqual(await walked(ctx, ['/srv']), ['/srv', '/srv/a.conf', '/srv/to-agent']);
    // A start inside it, or leading into it, is not walked either.
    assert.deepEqual(await walked(ctx, ['/srv/agent', '/srv/to-agent', '/srv/agent/sub', '/srv/a.conf/../agent']), []);
    assert.deepEqual(ctx.refusals, []);
    assert.deepEqual(await walked(context(), ['/srv']), ['/srv', '/srv/a.conf', '/srv/agent', '/srv/agent/node.key', '/srv/agent/sub', '/srv/agent/sub/state.json', '/srv/to-agent']);
  });

  it('normalises start paths before keeping out of pseudo-filesystems, and checks them once resolved', async () => {
    const ctx = context();
    assert.deepEqual(await walked(ctx, ['/etc/../proc']), []);
    assert.deepEqual(await walked(ctx, ['/etc/./../proc/1']), []);
    assert.deepEqual(await walked(ctx, ['/etc/proc-link']), []);
    assert.deepEqual(await walked(ctx, ['/srv/../etc']), ['/etc', '/etc/hostname', '/etc/proc-link']);
  });

  it('keeps a find rule from seeing a denied subtree', async () => {
    const find = createFindRule(1_000);
    const rule = FindRuleSchema.parse({ find: { under: ['/srv', '/etc/../srv/to-agent'], name: '\\.(key|json)$' }, expect: 'none' });
    assert.deepEqual(await find.evaluate(rule, context(['/srv/agent'])), { result: true, evidence: 'no match under /srv, /etc/../srv/to-agent (3 entries checked)' });
    assert.deepEqual(await find.evaluate(rule, context()), {
      result: false,
      evidence: '2 found under /srv, /etc/../srv/to-agent: /srv/agent/node.key (0644), /srv/agent/sub/state.json (0644)',
    });
  });
});
