import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { backup } from './archiver.js';
import type { Backend, FileKind } from './backend/backend.js';
import { FaultyBackend, overriding } from './backend/faulty.js';
import { LocalBackend } from './backend/local.js';
import { check } from './checker.js';
import { forget } from './forget.js';
import { decodeIndex, type IndexPack } from './index-file.js';
import { prune } from './prune.js';
import { Repository } from './repository.js';
import { restore } from './restorer.js';

const credential = { kind: 'password', password: 'correct horse' } as const;

let root: string;
let pristine: string;
let src: string;
/** Snapshot 1 holds keep.bin and gone.bin; snapshot 2 (the newest) holds keep.bin and new.bin. */
const snapshots: string[] = [];
/** The pack of each backup: 1, 2, and a third whose snapshot was removed at once. */
const packs: string[] = [];
const content = new Map<string, Buffer>();

async function packNames(dir: string): Promise<Set<string>> {
  const names = new Set<string>();
  for await (const file of new LocalBackend(dir).list('data')) names.add(file.name);
  return names;
}

function packPath(dir: string, pack: string): string {
  return join(dir, 'data', pack.slice(0, 2), pack);
}

let copies = 0;
async function copyRepository(): Promise<string> {
  const dir = join(root, `copy-${++copies}`);
  await cp(pristine, dir, { recursive: true });
  return dir;
}

function openRepository(dir: string, backend: Backend = new LocalBackend(dir)): Promise<Repository> {
  return Repository.open(backend, credential);
}

/** Every file of a repository with its size, to compare before and after. */
async function listing(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (at: string): Promise<void> => {
    for (const entry of await readdir(at, { withFileTypes: true })) {
      const path = join(at, entry.name);
      if (entry.isDirectory()) await walk(path);
      else out.push(`${relative(dir, path)} ${(await stat(path)).size}`);
    }
  };
  await walk(dir);
  return out.sort();
}

/** Forgets snapshot 1, as `forget --keep-last 1` does. */
async function forgetFirst(repo: Repository): Promise<void> {
  const { removed } = await forget(repo, { last: 1 });
  assert.deepEqual(removed, [snapshots[0]]);
}

/** Restores snapshot 2 and compares it with the files backed up. */
async function assertRestores(dir: string): Promise<void> {
  const repo = await openRepository(dir);
  await repo.loadIndex();
  const target = await mkdtemp(join(root, 'restore-'));
  const result = await restore(repo, (await repo.loadSnapshot(snapshots[1] as string)).tree, { target });
  assert.deepEqual(result.problems, []);
  const restored = join(target, src);
  assert.deepEqual((await readdir(restored)).sort(), ['keep.bin', 'new.bin']);
  for (const name of ['keep.bin', 'new.bin']) assert.ok((await readFile(join(restored, name))).equals(content.get(name) as Buffer), `${name} is byte-identical`);
}

async function assertChecks(dir: string): Promise<void> {
  const report = await check(await openRepository(dir), { readData: true });
  assert.equal(report.ok, true, JSON.stringify(report.problems));
  assert.deepEqual(report.affected, []);
}

/** A backend that fails the `nth` call of one kind, as a crash there would stop prune. */
function crashAt(inner: Backend, op: 'write' | 'remove', kind: FileKind, nth: number): Backend {
  let calls = 0;
  return new FaultyBackend(inner, (o, k) => {
    if (o === op && k === kind && ++calls === nth) throw new Error(`simulated crash at ${op} ${kind} #${nth}`);
  });
}

describe('prune', () => {
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'bulwark-prune-'));
    pristine = join(root, 'repo');
    src = join(root, 'src');
    const junk = join(root, 'junk');
    await mkdir(src);
    await mkdir(junk);
    for (const [name, size] of [
      ['keep.bin', 300_000],
      ['gone.bin', 700_000],
      ['new.bin', 200_000],
    ] as const) {
      content.set(name, randomBytes(size));
    }
    const repo = await Repository.init(new LocalBackend(pristine), credential, { scryptCost: { log2N: 15, r: 8, p: 1 } });
    const run = async (paths: string[]): Promise<string> => {
      const known = await packNames(pristine);
      const { id } = await backup(repo, { paths, workers: 1 });
      const fresh = [...(await packNames(pristine))].filter((p) => !known.has(p));
      assert.equal(fresh.length, 1);
      packs.push(fresh[0] as string);
      return id;
    };
    await writeFile(join(src, 'keep.bin'), content.get('keep.bin') as Buffer);
    await writeFile(join(src, 'gone.bin'), content.get('gone.bin') as Buffer);
    snapshots.push(await run([src]));
    await rm(join(src, 'gone.bin'));
    await writeFile(join(src, 'new.bin'), content.get('new.bin') as Buffer);
    snapshots.push(await run([src]));
    await writeFile(join(junk, 'junk.bin'), randomBytes(100_000));
    await repo.removeSnapshot(await run([junk]));
  });

  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('removes exactly what no snapshot uses: unused packs go, partly used ones are rewritten', async () => {
    const dir = await copyRepository();
    const repo = await openRepository(dir);
    await forgetFirst(repo);
    const report = await prune(repo);
    assert.equal(report.dryRun, false);
    assert.equal(report.packsKept, 1);
    assert.equal(report.packsRewritten, 1);
    assert.equal(report.packsRemoved, 1);
    assert.equal(report.unreferencedPacksRemoved, 0);
    assert.ok(report.bytesRepacked >= 300_000 && report.bytesRepacked < 320_000, `keep.bin was copied (${report.bytesRepacked})`);
    assert.ok(report.bytesFreed > 780_000, `gone.bin and junk.bin were freed (${report.bytesFreed})`);
    assert.ok(report.blobsRemoved > 0);
    assert.equal(report.indexFilesRemoved, 3);
    assert.equal(report.indexFilesWritten, 2);

    const left = await packNames(dir);
    assert.equal(left.size, 2);
    assert.ok(left.has(packs[1] as string), 'the fully used pack is kept');
    assert.ok(!left.has(packs[0] as string) && !left.has(packs[2] as string));
    assert.equal((await readdir(join(dir, 'index'))).length, 2);
    assert.equal((await readdir(join(dir, 'locks'))).length, 0, 'the lock is released');

    await assertChecks(dir);
    await assertRestores(dir);
    const again = await prune(await openRepository(dir));
    assert.deepEqual(
      [again.packsRemoved, again.packsRewritten, again.blobsRemoved, again.bytesFreed, again.indexFilesWritten, again.indexFilesRemoved],
      [0, 0, 0, 0, 0, 0],
      'a second prune finds nothing left to do',
    );
  });

  it('keeps a partly used pack whose unused share is within maxUnused', async () => {
    const dir = await copyRepository();
    const repo = await openRepository(dir);
    await forgetFirst(repo);
    const report = await prune(repo, { maxUnused: 1 });
    assert.deepEqual([report.packsKept, report.packsRewritten, report.packsRemoved, report.bytesRepacked], [2, 0, 1, 0]);
    assert.ok((await packNames(dir)).has(packs[0] as string));
    await assertChecks(dir);
    await assertRestores(dir);
    await assert.rejects(prune(repo, { maxUnused: 1.5 }), { code: 'BAD_REQUEST' });
  });

  it('removes leftover packs that no index names', async () => {
    const dir = await copyRepository();
    const leftover = randomBytes(32).toString('hex');
    await new LocalBackend(dir).write('data', leftover, await readFile(packPath(dir, packs[1] as string)));
    // Within the grace period a pack no index names may belong to a backup still running: it stays.
    const early = await prune(await openRepository(dir));
    assert.equal(early.unreferencedPacksRemoved, 0);
    assert.ok((await packNames(dir)).has(leftover));
    const report = await prune(await openRepository(dir), { unindexedGraceMs: 0 });
    assert.equal(report.unreferencedPacksRemoved, 1);
    assert.equal(report.packsRemoved, 0, "the junk backup's pack went in the first run");
    assert.equal(report.packsRewritten, 0, 'snapshot 1 still uses its pack whole');
    assert.ok(!(await packNames(dir)).has(leftover));
    await assertChecks(dir);
  });

  it('keeps one copy of a pack stored twice', async () => {
    const dir = await copyRepository();
    const repo = await openRepository(dir);
    const twin = randomBytes(32);
    await repo.backend.write('data', twin.toString('hex'), await readFile(packPath(dir, packs[1] as string)));
    const listed: IndexPack[] = [];
    for (const name of await readdir(join(dir, 'index'))) listed.push(...decodeIndex(repo.keys.encryption, await readFile(join(dir, 'index', name)), name));
    const original = listed.find((p) => p.id.toString('hex') === packs[1]);
    assert.ok(original);
    await repo.writeIndex([{ id: twin, blobs: original.blobs }]);

    const report = await prune(await openRepository(dir));
    assert.equal(report.packsRemoved, 2, "the junk backup's pack and one of the twins");
    assert.equal(report.packsRewritten, 0);
    assert.equal(report.bytesRepacked, 0);
    const left = await packNames(dir);
    assert.equal(left.size, 2);
    assert.ok(left.has(packs[0] as string));
    assert.ok(left.has(packs[1] as string) !== left.has(twin.toString('hex')), 'exactly one twin is left');
    await assertChecks(dir);
    await assertRestores(dir);
  });

  it('changes nothing in a dry run and reports what a real run does', async () => {
    const dir = await copyRepository();
    const repo = await openRepository(dir);
    await forgetFirst(repo);
    const beforeFiles = await listing(dir);
    const dry = await prune(repo, { dryRun: true });
    assert.deepEqual(await listing(dir), beforeFiles);
    assert.equal(dry.dryRun, true);
    const real = await prune(await openRepository(dir));
    const counts = (r: typeof dry): number[] => [r.packsKept, r.packsRemoved, r.packsRewritten, r.unreferencedPacksRemoved, r.blobsRemoved, r.bytesRepacked, r.indexFilesRemoved, r.indexFilesWritten];
    assert.deepEqual(counts(dry), counts(real));
    assert.ok(Math.abs(dry.bytesFreed - real.bytesFreed) < 1000, `estimate ${dry.bytesFreed} is near ${real.bytesFreed}`);
  });

  it('refuses, deleting nothing, when a snapshot or a tree cannot be read', async () => {
    const dir = await copyRepository();
    const snapshotFile = join(dir, 'snapshots', snapshots[0] as string);
    const bytes = await readFile(snapshotFile);
    bytes[20] = (bytes[20] as number) ^ 1;
    await writeFile(snapshotFile, bytes);
    const beforeFiles = await listing(dir);
    await assert.rejects(prune(await openRepository(dir)), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'REPOSITORY_DAMAGED');
      assert.match(err.message, /prune needs every snapshot readable/);
      return true;
    });
    assert.deepEqual(await listing(dir), beforeFiles);

    const treeless = await copyRepository();
    await rm(packPath(treeless, packs[1] as string));
    const treelessFiles = await listing(treeless);
    await assert.rejects(prune(await openRepository(treeless)), { code: 'REPOSITORY_DAMAGED' });
    assert.deepEqual(await listing(treeless), treelessFiles);
  });

  for (const crash of [
    { step: 'after the new packs (1)', op: 'write', kind: 'index', nth: 2 },
    { step: 'after the new index (2)', op: 'remove', kind: 'index', nth: 1 },
    { step: 'while removing old index files (3)', op: 'remove', kind: 'index', nth: 2 },
    { step: 'after the old index files went (3)', op: 'remove', kind: 'data', nth: 1 },
  ] as const) {
    it(`leaves a whole repository when it stops ${crash.step}`, async () => {
      const dir = await copyRepository();
      await forgetFirst(await openRepository(dir));
      const failing = await openRepository(dir, crashAt(new LocalBackend(dir), crash.op, crash.kind, crash.nth));
      await assert.rejects(prune(failing), /simulated crash/);
      await assertChecks(dir);
      await assertRestores(dir);
      // A later prune finishes the work (once the crashed run's unindexed packs are past the grace period).
      await prune(await openRepository(dir), { unindexedGraceMs: 0 });
      assert.equal((await packNames(dir)).size, 2);
      await assertChecks(dir);
      await assertRestores(dir);
    });
  }

  it('a repacked pack that cannot be published (written in pieces to a temp file) leaves no temp file and a whole repository', async () => {
    const dir = await copyRepository();
    await forgetFirst(await openRepository(dir));
    const local = new LocalBackend(dir);
    const failing = overriding(local, {
      openWriter: async (kind, name, options) => {
        const writer = await local.openWriter(kind, name, options);
        return { ...writer, commit: () => Promise.reject(new Error('simulated failure to publish a pack')) };
      },
    });
    await assert.rejects(prune(await openRepository(dir, failing)), /simulated failure to publish/);
    assert.deepEqual((await listing(dir)).filter((f) => f.split('/').pop()?.startsWith('.') === true), []);
    await assertChecks(dir);
    await assertRestores(dir);
  });
});
