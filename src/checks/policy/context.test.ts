import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeFixtureTree, removeFixtureTree } from '../../host/fixture-tree.js';
import { MAX_FILE_BYTES, createRuleContext } from './context.js';
import { createRootedHost } from './rooted-host.js';

let root = '';

describe('createRuleContext', () => {
  before(async () => {
    root = await makeFixtureTree({
      '/etc/secret': 'inside the tree\n',
      '/etc/absolute': { link: '/etc/secret' },
      '/etc/climb': { link: '../../../../../../../../etc/secret' },
      '/etc/dir-link': { link: '/etc/conf.d' },
      '/etc/conf.d/b.conf': 'b\n',
      '/etc/conf.d/a.conf': 'a\n',
      '/var/big': '',
    });
    await writeFile(join(root, 'var/big'), Buffer.alloc(MAX_FILE_BYTES + 1, 0x61));
  });
  after(() => removeFixtureTree(root));

  it('resolves absolute symlinks and .. inside the root, never on the machine itself', async () => {
    const ctx = createRuleContext(createRootedHost(root), 0);
    assert.equal(await ctx.readFile('/etc/absolute'), 'inside the tree\n');
    assert.equal(await ctx.readFile('/etc/climb'), 'inside the tree\n');
    assert.equal(await ctx.readFile('/../../etc/secret'), 'inside the tree\n');
    assert.equal(await ctx.resolve('/etc/climb'), join(root, 'etc/secret'));
    assert.deepEqual(await ctx.listDir('/etc/dir-link'), ['a.conf', 'b.conf']);
    assert.equal((await ctx.lstat('/etc/absolute'))?.isSymbolicLink(), true);
    assert.equal((await ctx.stat('/etc/absolute'))?.isFile(), true);
  });

  it('answers undefined for what does not exist', async () => {
    const ctx = createRuleContext(createRootedHost(root), 0);
    assert.equal(await ctx.readFile('/etc/nope'), undefined);
    assert.equal(await ctx.readFile('/etc/secret/below-a-file'), undefined);
    assert.equal(await ctx.stat('/etc/nope'), undefined);
    assert.equal(await ctx.lstat('/etc/nope'), undefined);
    assert.equal(await ctx.listDir('/etc/nope'), undefined);
  });

  it('caches reads for one evaluation and sees changes in the next', async () => {
    const first = createRuleContext(createRootedHost(root), 0);
    assert.equal(await first.readFile('/etc/conf.d/a.conf'), 'a\n');
    await writeFile(join(root, 'etc/conf.d/a.conf'), 'changed\n');
    assert.equal(await first.readFile('/etc/conf.d/a.conf'), 'a\n');
    assert.equal(await createRuleContext(createRootedHost(root), 0).readFile('/etc/conf.d/a.conf'), 'changed\n');
  });

  it('refuses to read more than the cap', async () => {
    const ctx = createRuleContext(createRootedHost(root), 0);
    await assert.rejects(ctx.readFile('/var/big'), { message: '/var/big is larger than 8 MiB, more than a policy rule reads' });
    await assert.rejects(ctx.readFile('/etc/conf.d'), { code: 'EISDIR' });
  });
});
