import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, renameSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { backup, type BackupOptions } from './archiver.js';
import { overriding } from './backend/faulty.js';
import { LocalBackend } from './backend/local.js';
import type { Credential } from './key-file.js';
import { listLocks } from './lock.js';
import { Repository } from './repository.js';
import type { TreeNode } from './tree.js';

/** A key file opens without scrypt, which keeps these tests quick. */
const credential: Credential = { kind: 'key-file', bytes: randomBytes(32) };
const isRoot = process.getuid?.() === 0;

let root: string;
let count = 0;

async function newRepository(): Promise<string> {
  const dir = join(root, `repo-${++count}`);
  await Repository.init(new LocalBackend(dir), credential);
  return dir;
}

/** A fresh Repository per backup, as each CLI command opens its own. */
async function run(dir: string, options: BackupOptions): Promise<{ repo: Repository; result: Awaited<ReturnType<typeof backup>> }> {
  const repo = await Repository.open(new LocalBackend(dir), credential);
  const result = await backup(repo, { workers: 1, ...options });
  return { repo, result };
}

/** The snapshot's node for an absolute path (the root tree holds paths under their absolute names). */
async function nodeAt(repo: Repository, treeId: string, path: string): Promise<TreeNode> {
  let tree = await repo.loadTree(treeId);
  const parts = path.split('/').filter((p) => p.length > 0);
  let node: TreeNode | undefined;
  for (const [i, part] of parts.entries()) {
    node = tree.nodes.find((n) => n.name === part);
    assert.ok(node, `${parts.slice(0, i + 1).join('/')} is in the snapshot`);
    if (i < parts.length - 1) tree = await repo.loadTree(node.subtree as string);
  }
  assert.ok(node);
  return node;
}

async function namesIn(repo: Repository, treeId: string, path: string): Promise<string[]> {
  const node = await nodeAt(repo, treeId, path);
  assert.equal(node.type, 'dir', `${path} is a directory`);
  return (await repo.loadTree(node.subtree as string)).nodes.map((n) => n.name);
}

/** A name that is not valid UTF-8 and sorts after every ASCII name: the walk reports it (synchronously) after the others were seen. */
const BAD_NAME = Buffer.from([0x7a, 0xff, 0xfe]);

describe('backup (archiver)', () => {
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'bulwark-archiver-'));
  });

  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('excludes skip files and whole directories, by name at any depth or by absolute path', async () => {
    const src = join(root, 'excl');
    await mkdir(join(src, 'cache', 'deeper'), { recursive: true });
    await mkdir(join(src, 'sub', 'cache'), { recursive: true });
    await mkdir(join(src, 'sub', 'skip-me'), { recursive: true });
    await writeFile(join(src, 'a.txt'), 'a');
    await writeFile(join(src, 'app.log'), 'log');
    await writeFile(join(src, 'cache', 'x.bin'), randomBytes(2000));
    await writeFile(join(src, 'cache', 'deeper', 'y.bin'), randomBytes(2000));
    await writeFile(join(src, 'sub', 'b.txt'), 'b');
    await writeFile(join(src, 'sub', 'old.log'), 'old');
    await writeFile(join(src, 'sub', 'cache.txt'), 'not excluded: only the name "cache" is');
    await writeFile(join(src, 'sub', 'cache', 'z'), 'z');
    await writeFile(join(src, 'sub', 'skip-me', 'w'), 'w');
    const excludes = ['*.log', 'cache', `${src}/sub/skip-me`];
    const { repo, result } = await run(await newRepository(), { paths: [src], excludes });
    const { snapshot } = result;
    assert.deepEqual(await namesIn(repo, snapshot.tree, src), ['a.txt', 'sub']);
    assert.deepEqual(await namesIn(repo, snapshot.tree, join(src, 'sub')), ['b.txt', 'cache.txt']);
    assert.deepEqual(snapshot.excludes, excludes);
    assert.equal(snapshot.summary?.totalFiles, 3);
    assert.equal(snapshot.summary?.filesNew, 3);
    assert.equal(snapshot.summary?.errors, 0);
  });

  it('a file that cannot be read when its turn comes is reported via onError; the snapshot holds the rest and counts the error', async () => {
    // Root reads any file whatever its mode, so the file is removed between the walk and the read instead:
    // the walk reports the bad name (after it has seen gone.txt), and onError removes gone.txt then.
    const src = join(root, 'unreadable');
    await mkdir(src);
    await writeFile(join(src, 'a.txt'), 'kept');
    await writeFile(join(src, 'gone.txt'), 'removed before the worker reads it');
    writeFileSync(Buffer.concat([Buffer.from(`${src}/`), BAD_NAME]), 'bad name');
    const errors: [string, string][] = [];
    const { repo, result } = await run(await newRepository(), {
      paths: [src],
      onError: (path, message) => {
        errors.push([path, message]);
        if (message.includes('UTF-8')) unlinkSync(join(src, 'gone.txt'));
      },
    });
    assert.equal(errors.length, 2, JSON.stringify(errors));
    assert.match(errors[0]?.[1] ?? '', /not valid UTF-8/);
    assert.equal(errors[1]?.[0], join(src, 'gone.txt'));
    assert.match(errors[1]?.[1] ?? '', /cannot read \(ENOENT\)/);
    assert.deepEqual(await namesIn(repo, result.snapshot.tree, src), ['a.txt']);
    assert.equal(result.snapshot.summary?.errors, 2);
    assert.equal(result.snapshot.summary?.filesNew, 1);
  });

  it(`a file without read permission is ${isRoot ? 'still backed up when running as root' : 'reported via onError'}`, async () => {
    const src = join(root, 'mode-000');
    await mkdir(src);
    await writeFile(join(src, 'open.txt'), 'open');
    await writeFile(join(src, 'secret.txt'), 'secret');
    await chmod(join(src, 'secret.txt'), 0o000);
    const errors: string[] = [];
    const { repo, result } = await run(await newRepository(), { paths: [src], onError: (path, message) => errors.push(`${path}: ${message}`) });
    chmodSync(join(src, 'secret.txt'), 0o600);
    if (isRoot) {
      assert.deepEqual(errors, []);
      assert.deepEqual(await namesIn(repo, result.snapshot.tree, src), ['open.txt', 'secret.txt']);
      assert.equal(result.snapshot.summary?.errors, 0);
    } else {
      assert.equal(errors.length, 1);
      assert.match(errors[0] ?? '', /secret\.txt.*EACCES/);
      assert.deepEqual(await namesIn(repo, result.snapshot.tree, src), ['open.txt']);
      assert.equal(result.snapshot.summary?.errors, 1);
    }
  });

  it('a file replaced between the walk and the read is refused by the worker (another inode, or a symlink)', async () => {
    const src = join(root, 'replaced');
    await mkdir(src);
    await writeFile(join(src, 'a.txt'), 'original a');
    await writeFile(join(src, 'b.txt'), 'original b');
    await writeFile(join(src, 'c.txt'), 'stays');
    const outside = join(root, 'outside-secret');
    await writeFile(outside, 'must never be read through a swapped-in link');
    writeFileSync(Buffer.concat([Buffer.from(`${src}/`), BAD_NAME]), 'bad name');
    const errors: [string, string][] = [];
    const { repo, result } = await run(await newRepository(), {
      paths: [src],
      onError: (path, message) => {
        errors.push([path, message]);
        if (!message.includes('UTF-8')) return;
        // The new file exists before the old one goes, so it cannot reuse the old inode.
        writeFileSync(join(src, 'a.new'), 'replacement a');
        renameSync(join(src, 'a.new'), join(src, 'a.txt'));
        symlinkSync(outside, join(src, 'b.new'));
        renameSync(join(src, 'b.new'), join(src, 'b.txt'));
      },
    });
    const byPath = new Map(errors.map(([p, m]) => [p, m]));
    assert.equal(errors.length, 3, JSON.stringify(errors));
    assert.match(byPath.get(join(src, 'a.txt')) ?? '', /replaced while the backup ran/);
    assert.match(byPath.get(join(src, 'b.txt')) ?? '', /cannot read \(ELOOP\)|replaced/);
    assert.deepEqual(await namesIn(repo, result.snapshot.tree, src), ['c.txt']);
    assert.equal(result.snapshot.summary?.errors, 3);
    assert.equal(result.snapshot.summary?.bytesProcessed, 'stays'.length);
  });

  it('a second backup of an unchanged tree reads nothing; a changed mtime re-reads only that file', async () => {
    const src = join(root, 'parent');
    await mkdir(join(src, 'sub'), { recursive: true });
    const files: Record<string, Buffer> = { 'one.bin': randomBytes(3000), 'two.bin': randomBytes(5000), 'sub/three.bin': randomBytes(700_000) };
    for (const [name, data] of Object.entries(files)) await writeFile(join(src, name), data);
    const dir = await newRepository();
    const first = (await run(dir, { paths: [src] })).result.snapshot;
    assert.equal(first.summary?.filesNew, 3);
    assert.equal(first.summary?.bytesProcessed, 708_000);
    assert.equal(first.parent, undefined);

    const { repo, result } = await run(dir, { paths: [src] });
    const second = result.snapshot;
    assert.equal(second.parent, first.id);
    assert.equal(second.summary?.bytesProcessed, 0);
    assert.equal(second.summary?.filesUnchanged, 3);
    assert.equal(second.summary?.filesNew, 0);
    assert.equal(second.summary?.filesChanged, 0);
    assert.equal(second.summary?.totalBytes, 708_000);
    // The backed-up directory is the same tree; its ancestors (/tmp) may have changed meanwhile.
    assert.deepEqual((await nodeAt(repo, second.tree, src)).subtree, (await nodeAt(repo, first.tree, src)).subtree);

    // Whole seconds, so the stored nanoseconds are exact.
    const later = Math.floor(Date.now() / 1000) + 60;
    await utimes(join(src, 'two.bin'), later, later);
    const { repo: repo3, result: result3 } = await run(dir, { paths: [src] });
    const third = result3.snapshot;
    assert.equal(third.parent, second.id);
    assert.equal(third.summary?.filesChanged, 1);
    assert.equal(third.summary?.filesUnchanged, 2);
    assert.equal(third.summary?.bytesProcessed, 5000);
    const changed = await nodeAt(repo3, third.tree, join(src, 'two.bin'));
    assert.equal(changed.mtimeNs, (BigInt(later) * 1_000_000_000n).toString());
    // Same content, so the same blob: nothing of it stored again.
    assert.deepEqual(changed.content, (await nodeAt(repo3, first.tree, join(src, 'two.bin'))).content);

    // Without a parent every file is read again.
    const fresh = (await run(dir, { paths: [src], parent: 'none' })).result.snapshot;
    assert.equal(fresh.parent, undefined);
    assert.equal(fresh.summary?.bytesProcessed, 708_000);
  });

  it('the virtual root holds two paths (/x/a/b and /x/a/c) under one a', async () => {
    const base = join(root, 'virtual');
    await mkdir(join(base, 'a', 'b'), { recursive: true });
    await mkdir(join(base, 'a', 'c'), { recursive: true });
    await mkdir(join(base, 'a', 'not-backed-up'), { recursive: true });
    await writeFile(join(base, 'a', 'b', 'f1'), 'f1');
    await writeFile(join(base, 'a', 'c', 'f2'), 'f2');
    await writeFile(join(base, 'a', 'beside'), 'not backed up');
    const paths = [join(base, 'a', 'c'), join(base, 'a', 'b')];
    const { repo, result } = await run(await newRepository(), { paths });
    const tree = result.snapshot.tree;
    assert.deepEqual(result.snapshot.paths, paths);
    assert.deepEqual(await namesIn(repo, tree, base), ['a']);
    assert.deepEqual(await namesIn(repo, tree, join(base, 'a')), ['b', 'c']);
    assert.deepEqual(await namesIn(repo, tree, join(base, 'a', 'b')), ['f1']);
    assert.deepEqual(await namesIn(repo, tree, join(base, 'a', 'c')), ['f2']);
    // The virtual directories carry the real directories' metadata.
    const a = await nodeAt(repo, tree, join(base, 'a'));
    assert.equal(a.mode, (await stat(join(base, 'a'))).mode & 0o7777);
  });

  it('overlapping, repeated or missing paths are refused with BAD_REQUEST, leaving no lock and no snapshot', async () => {
    const base = join(root, 'overlap');
    await mkdir(join(base, 'a', 'b'), { recursive: true });
    const dir = await newRepository();
    const cases = [[join(base, 'a'), join(base, 'a', 'b')], [join(base, 'a', 'b'), join(base, 'a')], [join(base, 'a'), `${join(base, 'a')}/`], ['/'], [join(base, 'missing')], []];
    for (const paths of cases) {
      const repo = await Repository.open(new LocalBackend(dir), credential);
      await assert.rejects(backup(repo, { paths, workers: 1 }), { code: 'BAD_REQUEST' }, JSON.stringify(paths));
      assert.deepEqual(await listLocks(repo.backend, repo.keys.encryption), []);
    }
    const repo = await Repository.open(new LocalBackend(dir), credential);
    assert.deepEqual(await repo.listSnapshots(), []);
  });

  it('blockingStat: the same tree as with stat calls on libuv threads, and an entry gone before its stat is reported, not fatal', async () => {
    const src = join(root, 'blocking-stat');
    await mkdir(join(src, 'sub'), { recursive: true });
    await writeFile(join(src, 'a.txt'), 'a');
    await writeFile(join(src, 'empty'), '');
    await writeFile(join(src, 'sub', 'b.bin'), randomBytes(3000));
    symlinkSync('a.txt', join(src, 'link'));
    await chmod(join(src, 'a.txt'), 0o640);
    const shape = async (repo: Repository, treeId: string): Promise<unknown[]> => {
      const nodes = (await repo.loadTree((await nodeAt(repo, treeId, src)).subtree as string)).nodes;
      // Blob and tree ids are keyed per repository: everything else must match.
      return nodes.map(({ content, subtree, ...rest }) => ({ ...rest, blobs: content?.length, dir: subtree !== undefined }));
    };
    const plain = await run(await newRepository(), { paths: [src] });
    const blocking = await run(await newRepository(), { paths: [src], blockingStat: true });
    assert.deepEqual(await shape(blocking.repo, blocking.result.snapshot.tree), await shape(plain.repo, plain.result.snapshot.tree));
    assert.deepEqual(await namesIn(blocking.repo, blocking.result.snapshot.tree, src), ['a.txt', 'empty', 'link', 'sub']);

    // "{late}" sorts after the bad name, whose report removes it: its stat then fails on this thread.
    writeFileSync(Buffer.concat([Buffer.from(`${src}/`), BAD_NAME]), 'bad name');
    await writeFile(join(src, '{late}'), 'removed before its stat');
    const errors: [string, string][] = [];
    const { repo, result } = await run(await newRepository(), {
      paths: [src],
      blockingStat: true,
      onError: (path, message) => {
        errors.push([path, message]);
        if (message.includes('UTF-8')) unlinkSync(join(src, '{late}'));
      },
    });
    assert.equal(errors.length, 2, JSON.stringify(errors));
    assert.deepEqual(errors[1], [join(src, '{late}'), 'cannot read its metadata (ENOENT)']);
    assert.deepEqual(await namesIn(repo, result.snapshot.tree, src), ['a.txt', 'empty', 'link', 'sub']);
    assert.equal(result.snapshot.summary?.errors, 2);
  });

  it('a backup that fails while a pack is being filled leaves no temp file of it behind', async () => {
    const src = join(root, 'storage-fails');
    await mkdir(src);
    for (let i = 0; i < 3; i++) await writeFile(join(src, `f${i}.bin`), randomBytes(10 * 1024 * 1024));
    const dir = await newRepository();
    const local = new LocalBackend(dir);
    // Storage that takes the first pack's bytes but fails to publish it (a full disk at fsync).
    let commits = 0;
    const failing = overriding(local, {
      openWriter: async (kind, name, options) => {
        const writer = await local.openWriter(kind, name, options);
        return {
          append: (parts) => writer.append(parts),
          abort: () => writer.abort(),
          commit: async () => {
            if (++commits === 1) {
              await writer.abort();
              throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
            }
            await writer.commit();
          },
        };
      },
    });
    const repo = await Repository.open(failing, credential);
    await assert.rejects(backup(repo, { paths: [src], workers: 1 }), /ENOSPC/);
    const leftovers = (await readdir(join(dir, 'data'), { recursive: true })).filter((p) => p.split('/').pop()?.startsWith('.') === true);
    assert.deepEqual(leftovers, []);
    assert.ok(commits >= 1);
    assert.deepEqual(await listLocks(local, repo.keys.encryption), [], 'the lock is released');
  });
});
