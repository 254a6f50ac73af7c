import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, link, lstat, mkdir, open, readdir, readFile, readlink, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { LocalBackend } from '../src/backup/backend/local.js';
import { blobId, BLOB_DATA } from '../src/backup/crypto.js';
import { Repository } from '../src/backup/repository.js';
import type { SnapshotSummary } from '../src/backup/snapshot.js';
import { REPO_ROOT, waitFor, withTempDir } from './harness.js';

/** The built CLI, as users run it (`npm test` builds before the integration tests). */
const CLI = join(REPO_ROOT, 'bin', 'bulwark.js');

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function bulwark(args: string[], env: Record<string, string> = {}): Promise<Run> & { pid: number | undefined; kill: (s: NodeJS.Signals) => void } {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const done = new Promise<Run>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return Object.assign(done, { pid: child.pid, kill: (s: NodeJS.Signals) => child.kill(s) });
}

function assertOk(run: Run, what: string): void {
  assert.equal(run.code, 0, `${what} failed (${run.code}): ${run.stderr}${run.stdout}`);
}

function assertOneLineError(run: Run, code: number, pattern: RegExp): void {
  assert.equal(run.code, code, `expected exit ${code}, got ${run.code}: ${run.stderr}`);
  assert.match(run.stderr.trim().split('\n')[0] ?? '', pattern);
  assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace');
}

/** Repository flags for a key-file repository: opening one costs no scrypt, so the many CLI calls stay quick. */
async function keyFileRepo(dir: string): Promise<string[]> {
  const keyFile = join(dir, 'repo.key');
  await writeFile(keyFile, randomBytes(64), { mode: 0o600 });
  const flags = ['--repo', join(dir, 'repo'), '--key-file', keyFile];
  assertOk(await bulwark(['backup', 'init', ...flags]), 'init');
  return flags;
}

interface Entry {
  type: string;
  mode: number;
  /** Microseconds: Node sets times through a double, so restore is exact to the microsecond. */
  mtimeUs?: bigint;
  size?: number;
  target?: string;
  content?: Buffer;
}

/** Everything the round trip must preserve, keyed by relative path. Directory times are compared too. */
async function describeTree(root: string): Promise<Map<string, Entry>> {
  const out = new Map<string, Entry>();
  const visit = async (dir: string): Promise<void> => {
    for (const name of (await readdir(dir)).sort()) {
      const path = join(dir, name);
      const st = await lstat(path, { bigint: true });
      const rel = relative(root, path);
      if (st.isSymbolicLink()) out.set(rel, { type: 'symlink', mode: 0, target: await readlink(path) });
      else if (st.isDirectory()) {
        await visit(path);
        out.set(rel, { type: 'dir', mode: Number(st.mode & 0o7777n), mtimeUs: st.mtimeNs / 1000n });
      } else out.set(rel, { type: 'file', mode: Number(st.mode & 0o7777n), mtimeUs: st.mtimeNs / 1000n, size: Number(st.size), content: await readFile(path) });
    }
  };
  await visit(root);
  return out;
}

function compareTrees(source: Map<string, Entry>, restored: Map<string, Entry>): void {
  assert.deepEqual([...restored.keys()].sort(), [...source.keys()].sort(), 'the same paths');
  for (const [path, want] of source) {
    const got = restored.get(path) as Entry;
    assert.equal(got.type, want.type, `${path}: type`);
    assert.equal(got.mode, want.mode, `${path}: mode`);
    if (want.type === 'symlink') assert.equal(got.target, want.target, `${path}: link target`);
    if (want.type === 'file') {
      assert.equal(got.size, want.size, `${path}: size`);
      assert.ok((got.content as Buffer).equals(want.content as Buffer), `${path}: content byte for byte`);
    }
    if (want.mtimeUs !== undefined) {
      const drift = (got.mtimeUs as bigint) - want.mtimeUs;
      assert.ok(drift >= -1n && drift <= 1n, `${path}: modification time differs by ${drift} µs`);
    }
  }
}

/** Regular, empty, sparse and large files, symlinks (inside and pointing out), hard links, odd modes, unicode names. */
async function makeTree(root: string): Promise<void> {
  await mkdir(join(root, 'docs', 'deep', 'er'), { recursive: true });
  await writeFile(join(root, 'hello.txt'), 'hello, world\n');
  await writeFile(join(root, 'empty'), '');
  await writeFile(join(root, 'docs', 'report – été 日本語 🚀.txt'), 'unicode names survive\n'.repeat(100));
  await writeFile(join(root, 'docs', 'deep', 'er', 'random.bin'), randomBytes(3 * 1024 * 1024 + 17));
  await writeFile(join(root, 'log.txt'), Array.from({ length: 40_000 }, (_, i) => `2026-11-25T10:00:${String(i % 60).padStart(2, '0')}Z INFO request ${i} served in ${i % 97} ms\n`).join(''));
  // A large sparse file: 64 MiB long, two small islands of data.
  const sparse = await open(join(root, 'sparse.img'), 'w');
  await sparse.write(Buffer.from('start'), 0, 5, 0);
  await sparse.write(Buffer.from('middle'), 0, 6, 40 * 1024 * 1024);
  await sparse.truncate(64 * 1024 * 1024);
  await sparse.close();
  await symlink('hello.txt', join(root, 'link-inside'));
  await symlink('/etc/hostname', join(root, 'link-absolute'));
  await link(join(root, 'hello.txt'), join(root, 'docs', 'hard-link-to-hello'));
  await writeFile(join(root, 'secret.key'), 'private');
  await chmod(join(root, 'secret.key'), 0o600);
  await writeFile(join(root, 'script.sh'), '#!/bin/sh\necho hi\n');
  await chmod(join(root, 'script.sh'), 0o4755);
  await chmod(join(root, 'docs', 'deep'), 0o750);
  await utimes(join(root, 'hello.txt'), new Date('2001-02-03T04:05:06Z'), new Date('2001-02-03T04:05:06Z'));
}

async function backupJson(flags: string[], paths: string[], extra: string[] = []): Promise<{ snapshot: string; summary: SnapshotSummary }> {
  const run = await bulwark(['backup', 'run', ...flags, ...paths, '--json', ...extra]);
  assertOk(run, 'backup run');
  return JSON.parse(run.stdout) as { snapshot: string; summary: SnapshotSummary };
}

describe('stand-alone backups through the CLI', { timeout: 300_000 }, () => {
  it('round trip: a generated tree comes back byte for byte with its metadata, sparse files sparse, hard links linked', async () => {
    await withTempDir('bulwark-bk-', async (dir) => {
      const src = join(dir, 'src');
      await makeTree(src);
      const flags = await keyFileRepo(dir);
      const first = await backupJson(flags, [src]);
      assert.equal(first.summary.errors, 0);
      assert.equal(first.summary.totalFiles, 9);
      const target = join(dir, 'out');
      const restored = await bulwark(['backup', 'restore', 'latest', ...flags, '--target', target, '--json']);
      assertOk(restored, 'restore');
      const root = join(target, src);
      compareTrees(await describeTree(src), await describeTree(root));
      // Hard links: the two names share an inode again.
      assert.equal((await stat(join(root, 'hello.txt'))).ino, (await stat(join(root, 'docs', 'hard-link-to-hello'))).ino);
      // Sparse: 64 MiB long, almost nothing allocated.
      const sparse = await stat(join(root, 'sparse.img'));
      assert.equal(sparse.size, 64 * 1024 * 1024);
      assert.ok(sparse.blocks * 512 < 4 * 1024 * 1024, `the restored sparse file takes ${sparse.blocks * 512} bytes on disk`);
      // ls and snapshots see the same snapshot.
      const snaps = JSON.parse((await bulwark(['backup', 'snapshots', ...flags, '--json'])).stdout) as { id: string; paths: string[] }[];
      assert.deepEqual(snaps.map((s) => s.id), [first.snapshot]);
      const listing = await bulwark(['backup', 'ls', 'latest', src, ...flags]);
      assertOk(listing, 'ls');
      assert.match(listing.stdout, /report – été 日本語 🚀\.txt/);
      assert.match(listing.stdout, /link-absolute/);
      // --include restores a part only.
      const part = join(dir, 'part');
      assertOk(await bulwark(['backup', 'restore', first.snapshot.slice(0, 8), ...flags, '--target', part, '--include', join(src, 'docs')]), 'partial restore');
      assert.deepEqual((await readdir(join(part, src))).sort(), ['docs']);
    });
  });

  it('deduplicates: an unchanged backup adds nothing; a changed region re-uploads only the chunks around it', async () => {
    await withTempDir('bulwark-bk-', async (dir) => {
      const src = join(dir, 'src');
      await mkdir(src);
      await writeFile(join(src, 'big.bin'), randomBytes(32 * 1024 * 1024));
      await writeFile(join(src, 'small.txt'), 'small');
      const flags = await keyFileRepo(dir);
      const first = await backupJson(flags, [src]);
      assert.ok(first.summary.bytesAdded >= 32 * 1024 * 1024);
      const second = await backupJson(flags, [src]);
      // Only directory metadata can change (the temp dir's parents are busy): no file data.
      assert.ok(second.summary.bytesAdded < 4096, `an unchanged backup added ${second.summary.bytesAdded} bytes`);
      assert.equal(second.summary.bytesProcessed, 0, 'no file was read');
      assert.equal(second.summary.filesUnchanged, 2);
      // Even reading every file again (--force) stores nothing new.
      const forced = await backupJson(flags, [src], ['--force']);
      assert.ok(forced.summary.bytesAdded < 4096, `a forced re-read added ${forced.summary.bytesAdded} bytes`);
      assert.equal(forced.summary.bytesProcessed, 32 * 1024 * 1024 + 5);
      // Overwrite 100 bytes in the middle: one or two chunks (avg 1 MiB, at most 8 MiB each) are new, not 32 MiB.
      const handle = await open(join(src, 'big.bin'), constants.O_WRONLY);
      await handle.write(randomBytes(100), 0, 100, 16 * 1024 * 1024);
      await handle.close();
      const third = await backupJson(flags, [src]);
      assert.equal(third.summary.filesChanged, 1);
      assert.ok(third.summary.bytesAdded > 0 && third.summary.bytesAdded <= 16 * 1024 * 1024, `re-uploaded ${third.summary.bytesAdded} bytes`);
      const diff = await bulwark(['backup', 'diff', first.snapshot.slice(0, 8), 'latest', ...flags]);
      assertOk(diff, 'diff');
      assert.match(diff.stdout, /^M .*big\.bin$/m);
      assert.doesNotMatch(diff.stdout, /small\.txt/);
    });
  });

  it('a wrong password is refused with one line; the right one opens; keys can be added and removed', async () => {
    await withTempDir('bulwark-bk-', async (dir) => {
      const repo = join(dir, 'repo');
      await writeFile(join(dir, 'pw'), 'correct horse battery\n');
      await writeFile(join(dir, 'pw2'), 'a second password\n');
      await writeFile(join(dir, 'wrong'), 'not the password\n');
      assertOk(await bulwark(['backup', 'init', '--repo', repo, '--password-file', join(dir, 'pw')]), 'init');
      const wrong = await bulwark(['backup', 'snapshots', '--repo', repo, '--password-file', join(dir, 'wrong')]);
      assertOneLineError(wrong, 3, /no key of the repository .* opens with the password given/);
      assertOk(await bulwark(['backup', 'snapshots', '--repo', repo], { BULWARK_BACKUP_PASSWORD: 'correct horse battery' }), 'open by env');
      assertOk(await bulwark(['backup', 'key', 'add', '--repo', repo, '--password-file', join(dir, 'pw'), '--new-password-file', join(dir, 'pw2')]), 'key add');
      const keys = JSON.parse((await bulwark(['backup', 'key', 'ls', '--repo', repo, '--password-file', join(dir, 'pw2'), '--json'])).stdout) as { id: string; current: boolean }[];
      assert.equal(keys.length, 2);
      const first = keys.find((k) => !k.current) as { id: string };
      assertOk(await bulwark(['backup', 'key', 'rm', first.id.slice(0, 8), '--repo', repo, '--password-file', join(dir, 'pw2')]), 'key rm');
      assertOneLineError(await bulwark(['backup', 'snapshots', '--repo', repo, '--password-file', join(dir, 'pw')]), 3, /no key of the repository/);
      assertOneLineError(await bulwark(['backup', 'snapshots', '--repo', join(dir, 'nowhere'), '--password-file', join(dir, 'pw')]), 4, /no backup repository|does not exist/);
    });
  });

  it('kill -9 in the middle of a backup: check passes, the stale lock is removed, and the next backup succeeds', async () => {
    await withTempDir('bulwark-bk-', async (dir) => {
      const src = join(dir, 'src');
      await mkdir(src);
      for (let i = 0; i < 12; i++) await writeFile(join(src, `f${i}.bin`), randomBytes(16 * 1024 * 1024));
      const flags = await keyFileRepo(dir);
      const running = bulwark(['backup', 'run', ...flags, src]);
      // Wait until packs are landing, then kill the process without warning.
      await waitFor(async () => {
        const shards = await readdir(join(dir, 'repo', 'data'));
        let packs = 0;
        for (const shard of shards) packs += (await readdir(join(dir, 'repo', 'data', shard))).length;
        return packs >= 2 ? true : undefined;
      }, { timeoutMs: 60_000, intervalMs: 20 });
      running.kill('SIGKILL');
      const killed = await running;
      assert.equal(killed.signal, 'SIGKILL');
      assert.equal(JSON.parse((await bulwark(['backup', 'snapshots', ...flags, '--json'])).stdout).length, 0, 'no snapshot from a killed backup');
      const checked = await bulwark(['backup', 'check', ...flags, '--read-data', '--json']);
      assertOk(checked, 'check after kill -9');
      // The dead process's lock is stale (same host, process gone) and unlock removes it.
      const unlocked = JSON.parse((await bulwark(['backup', 'unlock', ...flags, '--json'])).stdout) as { removed: unknown[] };
      assert.equal(unlocked.removed.length, 1);
      const next = await backupJson(flags, [src]);
      assert.equal(next.summary.errors, 0);
      const target = join(dir, 'out');
      assertOk(await bulwark(['backup', 'restore', 'latest', ...flags, '--target', target]), 'restore');
      for (let i = 0; i < 12; i += 5) assert.ok((await readFile(join(target, src, `f${i}.bin`))).equals(await readFile(join(src, `f${i}.bin`))));
      // Prune removes what the killed backup left.
      assertOk(await bulwark(['backup', 'prune', ...flags, '--unindexed-grace', '0']), 'prune');
      const after = JSON.parse((await bulwark(['backup', 'check', ...flags, '--json'])).stdout) as { ok: boolean; unreferencedPacks: string[] };
      assert.equal(after.ok, true);
      assert.deepEqual(after.unreferencedPacks, []);
    });
  });

  it('a flipped byte in a pack is found by check --read-data, which names the damaged file; restore reports it and restores the rest', async () => {
    await withTempDir('bulwark-bk-', async (dir) => {
      const src = join(dir, 'src');
      await mkdir(src);
      const victim = randomBytes(200_000);
      await writeFile(join(src, 'victim.bin'), victim);
      await writeFile(join(src, 'bystander.txt'), 'untouched\n');
      const flags = await keyFileRepo(dir);
      await backupJson(flags, [src]);
      // Find the pack holding the victim's blob through the engine, then flip one byte of it on disk.
      const keyFile = flags[3] as string;
      const repo = await Repository.open(new LocalBackend(join(dir, 'repo')), { kind: 'key-file', bytes: await readFile(keyFile) });
      await repo.loadIndex();
      const loc = repo.locate(blobId(repo.keys.mac, BLOB_DATA, victim));
      assert.ok(loc && loc.type === BLOB_DATA, 'the victim is one blob');
      const packPath = join(dir, 'repo', 'data', loc.pack.slice(0, 2), loc.pack);
      const pack = await open(packPath, 'r+');
      const byte = Buffer.alloc(1);
      await pack.read(byte, 0, 1, loc.offset + 100);
      byte[0] = (byte[0] as number) ^ 0x01;
      await pack.write(byte, 0, 1, loc.offset + 100);
      await pack.close();
      repo.close();
      assertOk(await bulwark(['backup', 'check', ...flags]), 'a structural check does not read data');
      const checked = await bulwark(['backup', 'check', ...flags, '--read-data']);
      assertOneLineError({ ...checked, stderr: checked.stderr }, 10, /check found \d+ problems affecting 1 snapshots/);
      assert.match(checked.stdout, new RegExp(`${join(src, 'victim.bin').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
      assert.doesNotMatch(checked.stdout, /bystander/);
      const target = join(dir, 'out');
      const restored = await bulwark(['backup', 'restore', 'latest', ...flags, '--target', target]);
      assert.equal(restored.code, 12, restored.stderr);
      assert.match(restored.stderr, /victim\.bin: file not restored: data blob [0-9a-f]+ failed authentication/);
      assert.equal(await readFile(join(target, src, 'bystander.txt'), 'utf8'), 'untouched\n');
      await assert.rejects(stat(join(target, src, 'victim.bin')), 'no half-written victim is left');
    });
  });

  it('restore refuses snapshots that would write outside the target, and restores their safe parts', async () => {
    await withTempDir('bulwark-bk-', async (dir) => {
      const flags = await keyFileRepo(dir);
      const outside = join(dir, 'outside');
      await mkdir(outside);
      // A crafted snapshot, written with the repository's own keys as an attacker holding them could.
      const repo = await Repository.open(new LocalBackend(join(dir, 'repo')), { kind: 'key-file', bytes: await readFile(flags[3] as string) });
      await repo.loadIndex();
      const fileNode = async (name: string, text: string): Promise<Record<string, unknown>> => {
        const plain = Buffer.from(text);
        const id = await repo.saveBlob(BLOB_DATA, plain);
        return { name, type: 'file', mode: 0o644, uid: 0, gid: 0, mtimeNs: '0', size: plain.length, content: [id.toString('hex')] };
      };
      const meta = { mode: 0o755, uid: 0, gid: 0, mtimeNs: '0' };
      const escapeTree = await repo.saveTree({ nodes: [(await fileNode('pwned', 'escaped')) as never] });
      const root = await repo.saveTree({
        nodes: [
          (await fileNode('../escape-by-name', 'x')) as never,
          (await fileNode(`${outside}/absolute`, 'x')) as never,
          { name: '..', type: 'dir', subtree: escapeTree, ...meta },
          { name: 'evil-link', type: 'symlink', target: outside, ...meta, mode: 0o777 },
          { name: 'linked-dir', type: 'dir', subtree: escapeTree, ...meta },
          (await fileNode('safe.txt', 'safe')) as never,
        ],
      });
      await repo.flush();
      await repo.saveSnapshot({ v: 1, time: new Date().toISOString(), host: 'attacker', user: 'x', paths: ['/'], tags: [], excludes: [], tree: root, program: 'crafted' });
      repo.close();
      // The target already holds a symlink where the snapshot puts a directory.
      const target = join(dir, 'target');
      await mkdir(target);
      await symlink(outside, join(target, 'linked-dir'));
      const run = await bulwark(['backup', 'restore', 'latest', ...flags, '--target', target]);
      assert.equal(run.code, 12, run.stderr);
      assert.match(run.stderr, /\/\.\.\/escape-by-name: refused/);
      assert.match(run.stderr, /absolute: refused/);
      assert.match(run.stderr, /\/\.\.: refused/);
      assert.match(run.stderr, /\/linked-dir: refused: a symbolic link stands where a directory goes/);
      assert.deepEqual(await readdir(outside), [], 'nothing was written outside the target');
      assert.equal(await readFile(join(target, 'safe.txt'), 'utf8'), 'safe');
      assert.equal(await readlink(join(target, 'evil-link')), outside, 'a symlink is restored as a link, never followed');
    });
  });

  it('two backups from two processes at once both land', async () => {
    await withTempDir('bulwark-bk-', async (dir) => {
      const flags = await keyFileRepo(dir);
      const a = join(dir, 'a');
      const b = join(dir, 'b');
      await mkdir(a);
      await mkdir(b);
      const shared = randomBytes(4 * 1024 * 1024);
      for (let i = 0; i < 4; i++) {
        await writeFile(join(a, `a${i}`), Buffer.concat([shared, randomBytes(3 * 1024 * 1024)]));
        await writeFile(join(b, `b${i}`), Buffer.concat([randomBytes(3 * 1024 * 1024), shared]));
      }
      const [ra, rb] = await Promise.all([bulwark(['backup', 'run', ...flags, a, '--json']), bulwark(['backup', 'run', ...flags, b, '--json'])]);
      assertOk(ra, 'backup a');
      assertOk(rb, 'backup b');
      const snaps = JSON.parse((await bulwark(['backup', 'snapshots', ...flags, '--json'])).stdout) as { paths: string[] }[];
      assert.deepEqual(snaps.map((s) => s.paths[0]).sort(), [a, b].sort());
      assertOk(await bulwark(['backup', 'check', ...flags, '--read-data']), 'check');
      for (const [src, name] of [[a, 'a3'], [b, 'b0']] as const) {
        const target = join(dir, `out-${name}`);
        const snap = JSON.parse(src === a ? ra.stdout : rb.stdout) as { snapshot: string };
        assertOk(await bulwark(['backup', 'restore', snap.snapshot, ...flags, '--target', target]), 'restore');
        assert.ok((await readFile(join(target, src, name))).equals(await readFile(join(src, name))));
      }
    });
  });

  it('bad input gets one clear line and a usage exit, and nothing is created', async () => {
    await withTempDir('bulwark-bk-', async (dir) => {
      assertOneLineError(await bulwark(['backup', 'init'], { BULWARK_BACKUP_REPO: '', BULWARK_BACKUP_PASSWORD: 'correct horse' }), 2, /which repository\?/);
      assertOneLineError(await bulwark(['backup', 'init', '--repo', join(dir, 'r')], { BULWARK_BACKUP_PASSWORD: 'short' }), 2, /at least 8 characters/);
      await assert.rejects(stat(join(dir, 'r', 'config')));
      const flags = await keyFileRepo(dir);
      assertOneLineError(await bulwark(['backup', 'init', ...flags]), 5, /already/);
      assertOneLineError(await bulwark(['backup', 'run', ...flags, join(dir, 'missing')]), 2, /does not exist/);
      assertOneLineError(await bulwark(['backup', 'restore', 'zz', ...flags, '--target', join(dir, 't')]), 2, /"latest" or \(a prefix of\) its id/);
      assertOneLineError(await bulwark(['backup', 'forget', ...flags]), 2, /--keep/);
      assertOneLineError(await bulwark(['backup', 'check', ...flags, '--read-data-subset', '150%']), 2, /percentage/);
      await rm(join(dir, 'r'), { recursive: true, force: true });
    });
  });
});
