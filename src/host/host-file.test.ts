import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { isLiveRoot, readFirstHostFile, readHostFile, resolveInRoot } from './host-file.js';
import { makeFixtureTree, removeFixtureTree } from './fixture-tree.js';

test('readHostFile returns undefined for a missing file or a missing parent', async (t) => {
  const root = await makeFixtureTree({ '/etc/hostname': 'h\n' });
  t.after(() => removeFixtureTree(root));
  assert.equal(await readHostFile(root, '/etc/nope'), undefined);
  assert.equal(await readHostFile(root, '/etc/hostname/below-a-file'), undefined);
  assert.equal(await readHostFile(root, '/etc/hostname'), 'h\n');
});

test('readHostFile throws for failures other than absence', async (t) => {
  const root = await makeFixtureTree({ '/etc/hostname': { dir: true } });
  t.after(() => removeFixtureTree(root));
  await assert.rejects(readHostFile(root, '/etc/hostname'), { code: 'EISDIR' });
});

test('readFirstHostFile falls through unreadable candidates', async (t) => {
  const root = await makeFixtureTree({ '/a': { dir: true }, '/b': 'b' });
  t.after(() => removeFixtureTree(root));
  assert.equal(await readFirstHostFile(root, ['/a', '/missing', '/b']), 'b');
  await assert.rejects(readFirstHostFile(root, ['/a', '/missing']), { code: 'EISDIR' });
  assert.equal(await readFirstHostFile(root, ['/missing']), undefined);
});

test('resolveInRoot confines absolute symlinks and .. to the root', async (t) => {
  const root = await makeFixtureTree({
    '/usr/lib/os-release': 'x',
    '/etc/abs': { link: '/usr/lib/os-release' },
    '/etc/escape': { link: '../../../../../../usr/lib/os-release' },
    '/lib': { link: 'usr/lib' },
    '/loop-a': { link: '/loop-b' },
    '/loop-b': { link: '/loop-a' },
  });
  t.after(() => removeFixtureTree(root));
  const target = join(root, 'usr/lib/os-release');
  assert.equal(await resolveInRoot(root, '/etc/abs'), target);
  assert.equal(await resolveInRoot(root, '/etc/escape'), target);
  assert.equal(await resolveInRoot(root, '/lib/os-release'), target);
  assert.equal(await resolveInRoot(root, '/no/such/file'), join(root, 'no/such/file'));
  await assert.rejects(resolveInRoot(root, '/loop-a'), { code: 'ELOOP' });
});

test('isLiveRoot recognises / however it is spelt', () => {
  assert.equal(isLiveRoot('/'), true);
  assert.equal(isLiveRoot('/proc/..'), true);
  assert.equal(isLiveRoot('/tmp'), false);
});
