import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LocalBackend } from './backend/local.js';
import { sealBlob } from './blob-codec.js';
import { BLOB_DATA } from './crypto.js';
import { Repository } from './repository.js';
import { Restorer } from './restorer.js';
import type { TreeNode } from './tree.js';

/** Small files are restored in batches (blobs read in pack order, files created under their own names): what that must not change. */
let dir: string;
let repo: Repository;

async function fileNode(name: string, plain: Buffer, extra: Partial<TreeNode> = {}): Promise<TreeNode> {
  const id = await repo.saveBlob(BLOB_DATA, plain);
  return { name, type: 'file', mode: 0o640, uid: 0, gid: 0, mtimeNs: '1600000000000000000', size: plain.length, content: [id.toString('hex')], ...extra };
}

/** A file whose stored blob does not hash to its id: it decrypts, then fails verification. */
async function damagedNode(name: string): Promise<TreeNode> {
  const plain = Buffer.from('what the file held');
  const id = randomBytes(32);
  await repo.writer.add(BLOB_DATA, id, sealBlob(repo.keys, BLOB_DATA, id, plain), plain.length);
  return { name, type: 'file', mode: 0o644, uid: 0, gid: 0, mtimeNs: '0', size: plain.length, content: [id.toString('hex')] };
}

describe('restore of many small files', () => {
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bulwark-batch-'));
    repo = await Repository.init(new LocalBackend(join(dir, 'repo')), { kind: 'key-file', bytes: randomBytes(32) });
  });
  after(async () => {
    repo.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('a damaged blob costs only its file; the others of the batch are restored with their content, mode and time', async () => {
    const nodes: TreeNode[] = [];
    const contents = new Map<string, Buffer>();
    for (let i = 0; i < 300; i++) {
      const data = i % 2 === 0 ? randomBytes(100 + i) : Buffer.from(`line ${i}\n`.repeat(50));
      contents.set(`f${i}`, data);
      nodes.push(await fileNode(`f${i}`, data));
    }
    nodes.push(await damagedNode('broken'));
    nodes.push(await fileNode('sparse', Buffer.concat([Buffer.alloc(8192), Buffer.from('tail')])));
    nodes.push(await fileNode('empty', Buffer.alloc(0), { content: [] }));
    const tree = await repo.saveTree({ nodes });
    await repo.flush();
    const target = join(dir, 'fresh');
    const result = await new Restorer(repo, { target }).run(tree);
    assert.deepEqual(
      result.problems.map((p) => [p.path, p.code]),
      [['/broken', 'REPOSITORY_DAMAGED']],
    );
    assert.equal(result.files, 302);
    for (const [name, data] of contents) assert.deepEqual(await readFile(join(target, name)), data, name);
    const st = await stat(join(target, 'f7'));
    assert.equal(st.mode & 0o7777, 0o640);
    assert.equal(st.mtimeMs, 1600000000000);
    assert.equal((await stat(join(target, 'sparse'))).size, 8196);
    assert.equal((await stat(join(target, 'empty'))).size, 0);
    const names = await readdir(target);
    assert.ok(!names.includes('broken'), 'a file whose data is damaged is not created');
    assert.ok(!names.some((n) => n.startsWith('.bulwark-restore-')), 'no temporary names are left');
  });

  it('a small file ending in a piece of zeros and an empty blob keeps its full length', async () => {
    const zeros = Buffer.alloc(8192);
    const empty = Buffer.alloc(0);
    const zerosNode = await fileNode('z', zeros);
    const emptyNode = await fileNode('e', empty);
    const node: TreeNode = { ...zerosNode, name: 'zeros-then-empty', size: 8192, content: [...(zerosNode.content ?? []), ...(emptyNode.content ?? [])] };
    const tree = await repo.saveTree({ nodes: [node] });
    await repo.flush();
    const target = join(dir, 'zeros');
    const result = await new Restorer(repo, { target }).run(tree);
    assert.deepEqual(result.problems, []);
    assert.deepEqual(await readFile(join(target, 'zeros-then-empty')), zeros);
  });

  it('names that are not well-formed Unicode (two of them would be one name on disk) are refused', async () => {
    const a = await fileNode('f\ud800', Buffer.from('first'));
    const b = await fileNode('f\ud801', Buffer.from('second'));
    const tree = await repo.saveTree({ nodes: [a, b] });
    await repo.flush();
    const target = join(dir, 'surrogates');
    const result = await new Restorer(repo, { target }).run(tree);
    assert.equal(result.files, 0);
    assert.equal(result.problems.length, 2);
    assert.ok(result.problems.every((p) => p.code === 'UNSAFE_PATH'));
    assert.deepEqual(await readdir(target), []);
  });

  it('as root, a file restored into a set-gid directory gets the group the snapshot names, set-gid bit included', { skip: process.getuid?.() !== 0 ? 'needs root (chown)' : false }, async () => {
    const target = join(dir, 'setgid');
    await mkdir(target, { mode: 0o2775 });
    await chown(target, 0, 4321);
    await chmod(target, 0o2775);
    const node = await fileNode('tool', Buffer.from('#!/bin/sh\n'), { mode: 0o2755, uid: 0, gid: 0 });
    const tree = await repo.saveTree({ nodes: [node] });
    await repo.flush();
    const result = await new Restorer(repo, { target }).run(tree);
    assert.deepEqual(result.problems, []);
    const st = await stat(join(target, 'tool'));
    assert.equal(st.gid, 0, 'not the directory\'s group');
    assert.equal(st.mode & 0o7777, 0o2755);
  });
});
