import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { cp, mkdir, mkdtemp, open, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { backup } from './archiver.js';
import { LocalBackend } from './backend/local.js';
import { check } from './checker.js';
import { decodeIndex } from './index-file.js';
import { Repository } from './repository.js';
import { WorkerPool } from './worker-pool.js';

const credential = { kind: 'password', password: 'correct horse' } as const;

let root: string;
let pristine: string;
let shared: string;
let big: string;
/** Pack ids written by each of the four backups, in order. */
const packsOf: string[][] = [];
/** Snapshot ids, oldest first: 1 and 2 back up src/ (both hold shared.bin), 3 and 4 back up other/. */
const snapshots: string[] = [];

async function packNames(dir: string): Promise<Set<string>> {
  const names = new Set<string>();
  for await (const file of new LocalBackend(dir).list('data')) names.add(file.name);
  return names;
}

async function copyRepository(name: string): Promise<{ dir: string; repo: Repository }> {
  const dir = join(root, name);
  await cp(pristine, dir, { recursive: true });
  return { dir, repo: await Repository.open(new LocalBackend(dir), credential) };
}

function packPath(dir: string, pack: string): string {
  return join(dir, 'data', pack.slice(0, 2), pack);
}

async function flipByte(path: string, at: number): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, at);
    byte[0] = (byte[0] as number) ^ 0x40;
    await handle.write(byte, 0, 1, at);
  } finally {
    await handle.close();
  }
}

/** Where the first data blob of a file (by its path inside the snapshots) is stored. */
async function locateFile(repo: Repository, snapshotId: string, path: string): Promise<{ blob: string; pack: string; offset: number; length: number }> {
  const snapshot = await repo.loadSnapshot(snapshotId);
  let tree = await repo.loadTree(snapshot.tree);
  const parts = path.split('/').filter((p) => p.length > 0);
  for (const [i, part] of parts.entries()) {
    const node = tree.nodes.find((n) => n.name === part);
    assert.ok(node, `${part} is in the snapshot`);
    if (i === parts.length - 1) {
      const blob = node.content?.[0];
      assert.ok(blob !== undefined);
      const location = repo.locate(Buffer.from(blob, 'hex'));
      assert.ok(location);
      return { blob, pack: location.pack, offset: location.offset, length: location.length };
    }
    tree = await repo.loadTree(node.subtree as string);
  }
  throw new Error(`${path} not found`);
}

describe('check', () => {
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'bulwark-check-'));
    pristine = join(root, 'repo');
    const src = join(root, 'src');
    const other = join(root, 'other');
    await mkdir(src);
    await mkdir(other);
    shared = join(src, 'shared.bin');
    big = join(src, 'big.bin');
    await writeFile(shared, randomBytes(300_000));
    await writeFile(join(src, 'old.txt'), 'only in the first snapshot');
    const repo = await Repository.init(new LocalBackend(pristine), credential, { scryptCost: { log2N: 15, r: 8, p: 1 } });
    const run = async (paths: string[]): Promise<void> => {
      const before = await packNames(pristine);
      const result = await backup(repo, { paths, workers: 1 });
      snapshots.push(result.id);
      packsOf.push([...(await packNames(pristine))].filter((p) => !before.has(p)));
    };
    await run([src]);
    await rm(join(src, 'old.txt'));
    await writeFile(big, randomBytes(200_000));
    await run([src]);
    await writeFile(join(other, 'a.txt'), 'another directory');
    await run([other]);
    await writeFile(join(other, 'b.txt'), 'and one more file');
    await run([other]);
  });

  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('passes a clean repository, with and without reading the data', async () => {
    assert.deepEqual(
      packsOf.map((p) => p.length),
      [1, 1, 1, 1],
    );
    const repo = await Repository.open(new LocalBackend(pristine), credential);
    const plain = await check(repo);
    assert.equal(plain.ok, true, JSON.stringify(plain.problems));
    assert.equal(plain.snapshots, 4);
    assert.equal(plain.indexFiles, 4);
    assert.equal(plain.packs, 4);
    assert.equal(plain.packsRead, 0);
    assert.ok(plain.blobs > 8);
    assert.deepEqual(plain.affected, []);
    assert.deepEqual(plain.unreferencedPacks, []);

    const progress: [number, number][] = [];
    const full = await check(repo, { readData: true, onProgress: (done, total) => progress.push([done, total]) });
    assert.equal(full.ok, true, JSON.stringify(full.problems));
    assert.equal(full.packsRead, 4);
    assert.deepEqual(progress.at(-1), [8, 8]);
    assert.equal(await readdir(join(pristine, 'locks')).then((l) => l.length), 0, 'the lock is released');
  });

  it('finds a flipped byte in one file only by reading data, and names that file in every snapshot holding it', async () => {
    const { dir, repo } = await copyRepository('flipped');
    await repo.loadIndex();
    const target = await locateFile(repo, snapshots[0] as string, shared);
    await flipByte(packPath(dir, target.pack), target.offset + Math.floor(target.length / 2));

    const fresh = await Repository.open(new LocalBackend(dir), credential);
    assert.equal((await check(fresh)).ok, true, 'a plain check reads no data');

    const report = await check(fresh, { readData: true });
    assert.equal(report.ok, false);
    assert.deepEqual(
      report.problems.map((p) => [p.kind, p.name]),
      [['blob', target.blob]],
    );
    assert.match(report.problems[0]?.message ?? '', /damaged/);
    assert.deepEqual(
      report.affected.map((a) => [a.id, a.files]),
      [
        [snapshots[0], [shared]],
        [snapshots[1], [shared]],
      ],
    );
    assert.equal(report.affected[0]?.paths[0], join(root, 'src'));

    // The same through a worker pool's opener (blobs are copied before they cross threads).
    const pool = new WorkerPool(fresh.keys, undefined, 1);
    try {
      const pooled = await check(fresh, { readData: true, openBlob: (type, id, sealed, rawLength) => pool.openBlob(type, id, sealed, rawLength) });
      assert.deepEqual(
        pooled.affected.map((a) => a.files),
        [[shared], [shared]],
      );
    } finally {
      await pool.close();
    }
  });

  it('finds damage both in reads opened on this thread and in reads handed to its worker', async () => {
    const { dir, repo } = await copyRepository('two-flips');
    await repo.loadIndex();
    // Two reads of one pack: the large blob alone, the small ones together; the checker opens every other read on its worker.
    const large = await locateFile(repo, snapshots[0] as string, shared);
    const small = await locateFile(repo, snapshots[0] as string, join(root, 'src', 'old.txt'));
    assert.equal(large.pack, small.pack);
    await flipByte(packPath(dir, large.pack), large.offset + Math.floor(large.length / 2));
    await flipByte(packPath(dir, small.pack), small.offset + Math.floor(small.length / 2));

    const report = await check(await Repository.open(new LocalBackend(dir), credential), { readData: true });
    assert.deepEqual(report.problems.map((p) => [p.kind, p.name]).sort(), [['blob', large.blob], ['blob', small.blob]].sort());
    assert.ok(report.problems.every((p) => /damaged/.test(p.message)));
    assert.deepEqual(
      report.affected.map((a) => [a.id, a.files]),
      [
        [snapshots[0], [join(root, 'src', 'old.txt'), shared].sort()],
        [snapshots[1], [shared]],
      ],
    );
  });

  it('names a missing pack and exactly the files whose data or trees it held', async () => {
    const { dir, repo } = await copyRepository('missing');
    const gone = packsOf[0]?.[0] as string;
    await rm(packPath(dir, gone));
    const report = await check(repo);
    assert.equal(report.ok, false);
    const rootTree = (await repo.loadSnapshot(snapshots[0] as string)).tree;
    assert.deepEqual(
      report.problems.map((p) => [p.kind, p.name]),
      [
        ['pack', gone],
        ['tree', rootTree],
      ],
    );
    assert.match(report.problems[0]?.message ?? '', /is missing/);
    // Snapshot 1's trees were in that pack; snapshot 2 kept only shared.bin's data there.
    assert.deepEqual(
      report.affected.map((a) => [a.id, a.files]),
      [
        [snapshots[0], ['/']],
        [snapshots[1], [shared]],
      ],
    );
  });

  it('names a truncated pack', async () => {
    const { dir, repo } = await copyRepository('truncated');
    const pack = packsOf[1]?.[0] as string;
    await truncate(packPath(dir, pack), 1000);
    const report = await check(repo);
    assert.equal(report.ok, false);
    assert.ok(report.problems.some((p) => p.kind === 'pack' && p.name === pack && /smaller than/.test(p.message)));
    assert.deepEqual(
      report.affected.map((a) => a.id),
      [snapshots[1]],
    );
  });

  it('reports a damaged index file and still loads the others', async () => {
    const { dir, repo } = await copyRepository('bad-index');
    // The index file naming the fourth backup's pack: only snapshot 4 depends on it.
    let victim: string | undefined;
    for (const name of await readdir(join(dir, 'index'))) {
      const packs = decodeIndex(repo.keys.encryption, await readFile(join(dir, 'index', name)), name);
      if (packs.some((p) => p.id.toString('hex') === packsOf[3]?.[0])) victim = name;
    }
    assert.ok(victim);
    await flipByte(join(dir, 'index', victim), 40);

    const report = await check(repo);
    assert.equal(report.ok, false);
    assert.deepEqual(
      report.problems.filter((p) => p.kind === 'index').map((p) => p.name),
      [victim],
    );
    assert.equal(report.packs, 3, 'the other index files loaded');
    assert.deepEqual(report.unreferencedPacks, packsOf[3]);
    assert.deepEqual(
      report.affected.map((a) => [a.id, a.files]),
      [[snapshots[3], ['/']]],
    );
  });

  it('lists a pack no index names without failing the check', async () => {
    const { dir, repo } = await copyRepository('leftover');
    const name = randomBytes(32).toString('hex');
    await new LocalBackend(dir).write('data', name, await readFile(packPath(dir, packsOf[0]?.[0] as string)));
    const report = await check(repo, { readData: true });
    assert.equal(report.ok, true, JSON.stringify(report.problems));
    assert.deepEqual(report.unreferencedPacks, [name]);
    assert.equal(report.packsRead, 4, 'unreferenced packs are not read');
  });

  it('reads about the fraction of packs asked for', async () => {
    const repo = await Repository.open(new LocalBackend(pristine), credential);
    const half = await check(repo, { readDataSubset: 0.5 });
    assert.equal(half.ok, true);
    assert.equal(half.packsRead, 2);
    assert.equal((await check(repo, { readDataSubset: 0.01 })).packsRead, 1, 'at least one pack');
    await assert.rejects(check(repo, { readDataSubset: 0 }), { code: 'BAD_REQUEST' });
    await assert.rejects(check(repo, { readDataSubset: 1.5 }), { code: 'BAD_REQUEST' });
  });
});
