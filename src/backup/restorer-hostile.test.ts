import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, mkdtemp, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LocalBackend } from './backend/local.js';
import { BLOB_DATA } from './crypto.js';
import { Repository } from './repository.js';
import { MAX_TREE_DEPTH, Restorer } from './restorer.js';
import type { TreeNode } from './tree.js';

/**
 * Restores of crafted snapshots into targets a hostile local user can write to:
 * whatever the snapshot says and whatever is swapped during the restore, nothing
 * outside the target is written, re-moded or linked.
 */
let dir: string;
let repo: Repository;

async function fileNode(name: string, text: string, extra: Partial<TreeNode> = {}): Promise<TreeNode> {
  const plain = Buffer.from(text);
  const id = await repo.saveBlob(BLOB_DATA, plain);
  return { name, type: 'file', mode: 0o644, uid: 0, gid: 0, mtimeNs: '0', size: plain.length, content: [id.toString('hex')], ...extra };
}

const dirNode = (name: string, subtree: string, mode = 0o755): TreeNode => ({ name, type: 'dir', mode, uid: 0, gid: 0, mtimeNs: '0', subtree });

describe('restore of hostile snapshots', () => {
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bulwark-hostile-'));
    repo = await Repository.init(new LocalBackend(join(dir, 'repo')), { kind: 'key-file', bytes: randomBytes(32) });
  });
  after(async () => {
    repo.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('a directory swapped for a symlink after it was checked redirects neither files nor modes', async () => {
    const outside = join(dir, 'etc');
    await mkdir(outside);
    await writeFile(join(outside, 'passwd'), 'original\n');
    await writeFile(join(outside, 'shadow'), 'secret\n');
    await chmod(join(outside, 'shadow'), 0o600);
    const d1 = await repo.saveTree({ nodes: [await fileNode('passwd', 'attacker\n')] });
    const d2 = await repo.saveTree({ nodes: [await fileNode('x', 'x')] });
    const e = await repo.saveTree({ nodes: [await fileNode('y', 'y')] });
    const home = await repo.saveTree({ nodes: [dirNode('d1', d1), dirNode('d2', d2, 0o4777), dirNode('e', e)] });
    const root = await repo.saveTree({ nodes: [dirNode('home', home)] });
    await repo.flush();
    const target = join(dir, 'target-swap');
    await mkdir(join(target, 'home'), { recursive: true });
    // The swaps happen at the worst moments: right after d1 was checked, and after d2's children, before its mode is set.
    const load = repo.loadTree.bind(repo);
    repo.loadTree = async (hex: string) => {
      if (hex === d1) {
        await rename(join(target, 'home/d1'), join(target, 'home/d1.moved'));
        await symlink(outside, join(target, 'home/d1'));
      }
      if (hex === e) {
        await rename(join(target, 'home/d2'), join(target, 'home/d2.moved'));
        await symlink(join(outside, 'shadow'), join(target, 'home/d2'));
      }
      return load(hex);
    };
    try {
      await new Restorer(repo, { target }).run(root);
    } finally {
      repo.loadTree = load;
    }
    assert.equal(await readFile(join(outside, 'passwd'), 'utf8'), 'original\n', 'nothing written through the swapped directory');
    assert.equal((await stat(join(outside, 'shadow'))).mode & 0o7777, 0o600, 'no mode set through the swapped directory');
    // What was restored went into the directories the restore opened, wherever they were moved.
    assert.equal(await readFile(join(target, 'home/d1.moved/passwd'), 'utf8'), 'attacker\n');
  });

  it('set-uid and set-gid bits come back only with their owner', async () => {
    const tree = await repo.saveTree({ nodes: [await fileNode('tool', '#!/bin/sh\n', { mode: 0o6755, uid: 4321, gid: 4321 })] });
    await repo.flush();
    const notOwned = join(dir, 'target-setid-1');
    await new Restorer(repo, { target: notOwned, owners: false }).run(tree);
    assert.equal((await stat(join(notOwned, 'tool'))).mode & 0o7777, 0o755, 'without its owner the file loses its set-id bits');
    if (process.getuid?.() === 0) {
      const owned = join(dir, 'target-setid-2');
      await new Restorer(repo, { target: owned, owners: true }).run(tree);
      const st = await stat(join(owned, 'tool'));
      assert.equal(st.uid, 4321);
      assert.equal(st.mode & 0o7777, 0o6755, 'with its owner, as root, the bits come back');
    }
  });

  it('a name too long for the file system, or a tree nested too deep, is reported and the rest restored', async () => {
    const deepest = await repo.saveTree({ nodes: [await fileNode('bottom', 'b')] });
    let chain = deepest;
    for (let i = 0; i < MAX_TREE_DEPTH + 2; i++) chain = await repo.saveTree({ nodes: [dirNode('d', chain)] });
    const root = await repo.saveTree({
      nodes: [dirNode('x'.repeat(300), deepest), await fileNode('safe.txt', 'safe'), dirNode('deep', chain)],
    });
    await repo.flush();
    const target = join(dir, 'target-long');
    const result = await new Restorer(repo, { target }).run(root);
    assert.equal(await readFile(join(target, 'safe.txt'), 'utf8'), 'safe');
    assert.ok(result.problems.some((p) => p.code === 'UNSAFE_PATH' && p.path.startsWith('/xxxx')), JSON.stringify(result.problems.map((p) => p.path.slice(0, 20))));
    assert.ok(result.problems.some((p) => /nested deeper than/.test(p.message)));
    await assert.rejects(lstat(join(target, 'x'.repeat(300))));
  });

  it('refuseTarget is asked about the target as it was opened, after a swap for a symlink', async () => {
    const tree = await repo.saveTree({ nodes: [await fileNode('f', 'x')] });
    await repo.flush();
    const guarded = join(dir, 'guarded');
    await mkdir(guarded);
    const target = join(dir, 'target-swapped');
    // The caller checked a harmless directory; by the time the restore opens it, it is a link to the guarded one.
    await symlink(guarded, target);
    await assert.rejects(new Restorer(repo, { target, refuseTarget: (real) => (real === guarded ? 'it is the guarded directory' : undefined) }).run(tree), (err: Error & { code?: string }) => err.code === 'BAD_REQUEST' && /guarded directory/.test(err.message));
    await assert.rejects(lstat(join(guarded, 'f')), 'nothing was written into it');
  });
});
