import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmod, chown, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { backup } from './archiver.js';
import { LocalBackend } from './backend/local.js';
import type { Credential } from './key-file.js';
import { Repository } from './repository.js';
import { restore } from './restorer.js';

const credential: Credential = { kind: 'key-file', bytes: randomBytes(32) };
const isRoot = process.getuid?.() === 0;
/** Owner given to one source file when running as root. */
const OWNER = { uid: 4321, gid: 8765 };
/** A whole second, so restored times compare exactly. */
const OLD_TIME = Date.parse('2020-01-02T03:04:05.000Z') / 1000;

let root: string;
/** The backed-up directory: the snapshot holds it under its absolute name. */
let src: string;
let repo: Repository;
let treeId: string;
const contents = new Map<string, Buffer>();
let targets = 0;

function target(): string {
  return join(root, `target-${++targets}`);
}

/** Where a source path lands in a restore target. */
function restored(into: string, path: string): string {
  return join(into, path);
}

/** Every path below a directory (relative, sorted), to compare what a restore made. */
async function listing(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (at: string, rel: string): Promise<void> => {
    for (const entry of await readdir(at, { withFileTypes: true })) {
      const path = rel === '' ? entry.name : `${rel}/${entry.name}`;
      out.push(path);
      if (entry.isDirectory()) await walk(join(at, entry.name), path);
    }
  };
  await walk(dir, '');
  return out.sort();
}

describe('restore', () => {
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'bulwark-restorer-'));
    src = join(root, 'src');
    const files: Record<string, Buffer> = {
      'top.txt': Buffer.from('top'),
      'owned.txt': Buffer.from('owned by someone else'),
      'sub/mid.txt': Buffer.from('mid'),
      'sub/deep/leaf.txt': Buffer.from('leaf'),
      'sub/deep/leaf2.bin': randomBytes(600_000),
      'other/o.txt': Buffer.from('other'),
      'ro/inner.txt': Buffer.from('inside a read-only directory'),
      'ro/nested/n.txt': Buffer.from('nested in it'),
    };
    for (const [name, data] of Object.entries(files)) {
      await mkdir(dirname(join(src, name)), { recursive: true });
      await writeFile(join(src, name), data);
      contents.set(name, data);
    }
    await chmod(join(src, 'top.txt'), 0o640);
    await symlink('top.txt', join(src, 'link'));
    if (isRoot) await chown(join(src, 'owned.txt'), OWNER.uid, OWNER.gid);
    // Children first, then the directory's own time and mode, as a restore must do too.
    await utimes(join(src, 'ro', 'nested'), OLD_TIME, OLD_TIME);
    await chmod(join(src, 'ro', 'nested'), 0o555);
    await utimes(join(src, 'ro'), OLD_TIME, OLD_TIME);
    await chmod(join(src, 'ro'), 0o500);

    const dir = join(root, 'repo');
    await Repository.init(new LocalBackend(dir), credential);
    const writer = await Repository.open(new LocalBackend(dir), credential);
    const { snapshot } = await backup(writer, { paths: [src], workers: 1 });
    assert.equal(snapshot.summary?.errors, 0);
    treeId = snapshot.tree;
    repo = await Repository.open(new LocalBackend(dir), credential);
    await repo.loadIndex();
  });

  after(async () => {
    // A non-root user could not remove what sits in the restored read-only directories.
    const reopen = async (dir: string): Promise<void> => {
      for (const entry of await readdir(dir, { withFileTypes: true })) {
        if (!entry.isDirectory()) continue;
        await chmod(join(dir, entry.name), 0o700);
        await reopen(join(dir, entry.name));
      }
    };
    await reopen(root).catch(() => undefined);
    await rm(root, { recursive: true, force: true });
  });

  it('restores every file, directory and symlink with its content, mode and time', async () => {
    const into = target();
    const result = await restore(repo, treeId, { target: into });
    assert.deepEqual(result.problems, []);
    assert.equal(result.files, contents.size);
    assert.equal(result.symlinks, 1);
    for (const [name, data] of contents) assert.deepEqual(await readFile(restored(into, join(src, name))), data, name);
    assert.equal((await stat(restored(into, join(src, 'top.txt')))).mode & 0o7777, 0o640);
    assert.equal(await readlink(restored(into, join(src, 'link'))), 'top.txt');
    // Times come back to the microsecond (utimes takes a double), not the nanosecond.
    const original = (await stat(join(src, 'sub', 'deep', 'leaf.txt'), { bigint: true })).mtimeNs;
    const back = (await stat(restored(into, join(src, 'sub', 'deep', 'leaf.txt')), { bigint: true })).mtimeNs;
    assert.ok(back - original < 1000n && original - back < 1000n, `${back} is within a microsecond of ${original}`);
    // No temporary file is left behind.
    assert.ok(!(await listing(into)).some((p) => p.includes('.bulwark-restore-')));
  });

  it('--include of a nested path restores only it, plus the directories on the way', async () => {
    const into = target();
    const result = await restore(repo, treeId, { target: into, include: [join(src, 'sub', 'deep')] });
    assert.deepEqual(result.problems, []);
    assert.equal(result.files, 2);
    const rel = src.slice(1);
    const ancestors = rel.split('/').map((_, i, parts) => parts.slice(0, i + 1).join('/'));
    assert.deepEqual(await listing(into), [...ancestors, `${rel}/sub`, `${rel}/sub/deep`, `${rel}/sub/deep/leaf.txt`, `${rel}/sub/deep/leaf2.bin`].sort());
    assert.deepEqual(await readFile(restored(into, join(src, 'sub', 'deep', 'leaf2.bin'))), contents.get('sub/deep/leaf2.bin'));
  });

  it('--include of one file restores that file alone; an include naming nothing restores nothing', async () => {
    const into = target();
    const result = await restore(repo, treeId, { target: into, include: [`${src}/sub/mid.txt`] });
    assert.equal(result.files, 1);
    const rel = src.slice(1);
    assert.deepEqual(
      (await listing(into)).filter((p) => p.startsWith(`${rel}/`)),
      [`${rel}/sub`, `${rel}/sub/mid.txt`],
    );
    const none = target();
    const nothing = await restore(repo, treeId, { target: none, include: [`${src}/no-such-thing`] });
    assert.equal(nothing.files, 0);
    assert.ok(!(await listing(none)).some((p) => p.startsWith(`${rel}/`)));
  });

  it('--include may not climb out of the snapshot', async () => {
    const into = target();
    const result = await restore(repo, treeId, { target: into, include: ['../../etc'] });
    // Normalised inside the snapshot: /etc, which it does not hold.
    assert.equal(result.files, 0);
  });

  it('a regular file where a directory goes is reported, and everything else is restored', async () => {
    const into = target();
    const blocker = restored(into, join(src, 'sub'));
    await mkdir(dirname(blocker), { recursive: true });
    await writeFile(blocker, 'i am in the way');
    const result = await restore(repo, treeId, { target: into });
    assert.equal(result.problems.length, 1, JSON.stringify(result.problems));
    assert.equal(result.problems[0]?.path, join(src, 'sub'));
    assert.equal(result.problems[0]?.code, 'IO');
    assert.equal(await readFile(blocker, 'utf8'), 'i am in the way');
    assert.equal(result.files, contents.size - 3);
    assert.deepEqual(await readFile(restored(into, join(src, 'top.txt'))), contents.get('top.txt'));
    assert.deepEqual(await readFile(restored(into, join(src, 'other', 'o.txt'))), contents.get('other/o.txt'));
  });

  it('a symbolic link where a directory goes is refused, never followed', async () => {
    const into = target();
    const outside = join(root, `outside-${targets}`);
    await mkdir(outside);
    const link = restored(into, join(src, 'other'));
    await mkdir(dirname(link), { recursive: true });
    await symlink(outside, link);
    const result = await restore(repo, treeId, { target: into });
    assert.deepEqual(
      result.problems.map((p) => [p.path, p.code]),
      [[join(src, 'other'), 'UNSAFE_PATH']],
    );
    assert.deepEqual(await readdir(outside), []);
    assert.ok((await lstat(link)).isSymbolicLink());
  });

  it(isRoot ? 'as root, owners (uid and gid) are restored unless told not to' : 'not as root, owners are left to the restoring user', async () => {
    const into = target();
    await restore(repo, treeId, { target: into });
    const owned = await stat(restored(into, join(src, 'owned.txt')));
    if (isRoot) {
      assert.deepEqual([owned.uid, owned.gid], [OWNER.uid, OWNER.gid]);
      const plain = target();
      await restore(repo, treeId, { target: plain, owners: false });
      const mine = await stat(restored(plain, join(src, 'owned.txt')));
      assert.deepEqual([mine.uid, mine.gid], [0, process.getgid?.()]);
    } else {
      assert.equal(owned.uid, process.getuid?.());
    }
  });

  it('directory modes (0o500) and times are applied after the children were written', async () => {
    const into = target();
    const result = await restore(repo, treeId, { target: into });
    assert.deepEqual(result.problems, []);
    const ro = restored(into, join(src, 'ro'));
    assert.deepEqual(await readFile(join(ro, 'inner.txt')), contents.get('ro/inner.txt'));
    assert.deepEqual(await readFile(join(ro, 'nested', 'n.txt')), contents.get('ro/nested/n.txt'));
    const info = await stat(ro);
    assert.equal(info.mode & 0o7777, 0o500);
    assert.equal((await stat(join(ro, 'nested'))).mode & 0o7777, 0o555);
    // Writing a child would have moved the directory's mtime: it still has the backed-up one.
    assert.equal(info.mtimeMs, OLD_TIME * 1000);
    assert.equal((await stat(join(ro, 'nested'))).mtimeMs, OLD_TIME * 1000);
  });

  it('restoring over an earlier restore replaces the files in place', async () => {
    const into = target();
    await restore(repo, treeId, { target: into, include: [join(src, 'top.txt')] });
    await writeFile(restored(into, join(src, 'top.txt')), 'changed since');
    const result = await restore(repo, treeId, { target: into, include: [join(src, 'top.txt')] });
    assert.deepEqual(result.problems, []);
    assert.deepEqual(await readFile(restored(into, join(src, 'top.txt'))), contents.get('top.txt'));
  });

  it('a target that is a regular file is refused with BAD_REQUEST', async () => {
    const file = join(root, `not-a-directory-${++targets}`);
    await writeFile(file, 'x');
    await assert.rejects(restore(repo, treeId, { target: file }), { code: 'BAD_REQUEST' });
    assert.equal(await readFile(file, 'utf8'), 'x');
  });
});
