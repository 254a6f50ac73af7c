import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lstat, mkdtemp, readFile, readlink, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type FixtureTree, applyOverlay, applyOverlayInPlace, materializeTree } from './fixture-materialize.js';

const canChown = process.getuid?.() === 0;

const BASE: FixtureTree = {
  '/etc/passwd': 'root:x:0:0::/root:/bin/bash\n',
  '/etc/shadow': { content: 'root:*:1::::::\n', mode: '0640', gid: 42 },
  '/usr/bin/su': { content: 'x', mode: '4755' },
  '/tmp': { dir: true, mode: '1777' },
  '/bin': { link: 'usr/bin' },
  '/var/cache/apt/pkgcache.bin': { content: 'x', mtime: '2025-05-31T00:00:00.000Z' },
};

async function tempRoot(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'bulwark-materialize-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  return root;
}

const modeOf = async (root: string, path: string): Promise<string> => ((await lstat(join(root, path))).mode & 0o7777).toString(8).padStart(4, '0');

test('materializeTree writes files, directories, links, modes and times whatever the umask', async (t) => {
  const root = await tempRoot(t);
  await materializeTree(root, BASE, { chown: canChown });
  assert.equal(await readFile(join(root, '/etc/passwd'), 'utf8'), 'root:x:0:0::/root:/bin/bash\n');
  assert.equal(await modeOf(root, '/etc/passwd'), '0644');
  assert.equal(await modeOf(root, '/etc'), '0755');
  assert.equal(await modeOf(root, '/tmp'), '1777');
  // chown runs before chmod, so the set-user-ID bit survives it.
  assert.equal(await modeOf(root, '/usr/bin/su'), '4755');
  assert.equal(await readlink(join(root, '/bin')), 'usr/bin');
  assert.equal((await stat(join(root, '/var/cache/apt/pkgcache.bin'))).mtime.toISOString(), '2025-05-31T00:00:00.000Z');
  if (canChown) assert.equal((await stat(join(root, '/etc/shadow'))).gid, 42);
});

test('applyOverlay removes subtrees, replaces entries and merges metadata changes', () => {
  const tree = applyOverlay(BASE, {
    remove: ['/var/cache'],
    set: { '/etc/shadow': { mode: '0600' }, '/etc/passwd': 'changed\n', '/srv/new': { dir: true } },
  });
  assert.equal(tree['/var/cache/apt/pkgcache.bin'], undefined);
  assert.deepEqual(tree['/etc/shadow'], { content: 'root:*:1::::::\n', mode: '0600', gid: 42 });
  assert.deepEqual(tree['/etc/passwd'], { content: 'changed\n' });
  assert.deepEqual(tree['/srv/new'], { dir: true });
  assert.throws(() => applyOverlay(BASE, { set: { '/etc/none': { mode: '0600' } } }), /\/etc\/none: a metadata change needs the path in the tree/);
});

test('applyOverlayInPlace changes only what the overlay names, and its undo restores the base', async (t) => {
  const root = await tempRoot(t);
  await materializeTree(root, BASE, { chown: canChown });
  const undo = await applyOverlayInPlace(
    root,
    BASE,
    { remove: ['/usr/bin/su'], set: { '/etc/shadow': { mode: '0644' }, '/srv/deep/dir/file': 'x', '/tmp': { mode: '0777' } } },
    { chown: canChown },
  );
  assert.equal(await lstat(join(root, '/usr/bin/su')).catch(() => undefined), undefined);
  assert.equal(await modeOf(root, '/etc/shadow'), '0644');
  assert.equal(await readFile(join(root, '/etc/shadow'), 'utf8'), 'root:*:1::::::\n');
  assert.equal(await readFile(join(root, '/srv/deep/dir/file'), 'utf8'), 'x');
  assert.equal(await modeOf(root, '/tmp'), '0777');
  await undo();
  assert.equal(await modeOf(root, '/usr/bin/su'), '4755');
  assert.equal(await modeOf(root, '/etc/shadow'), '0640');
  assert.equal(await modeOf(root, '/tmp'), '1777');
  // The directories the overlay created went with it.
  assert.equal(await lstat(join(root, '/srv')).catch(() => undefined), undefined);
});
