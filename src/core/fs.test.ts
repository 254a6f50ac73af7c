import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from './fs.js';

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'bulwark-fs-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const modeOf = async (path: string): Promise<number> => (await stat(path)).mode & 0o777;

/** Runs `fn` under `mask`, restoring the previous umask afterwards. */
async function withUmask<T>(mask: number, fn: () => Promise<T>): Promise<T> {
  const previous = process.umask(mask);
  try {
    return await fn();
  } finally {
    process.umask(previous);
  }
}

test('writes the content and creates the file 0600 by default', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'node.key');
  await writeFileAtomic(path, 'secret\n');
  assert.equal(await readFile(path, 'utf8'), 'secret\n');
  assert.equal(await modeOf(path), 0o600);
});

test('writes bytes as given', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'blob');
  const bytes = Uint8Array.from([0, 1, 2, 0xff, 0xfe]);
  await writeFileAtomic(path, bytes);
  assert.deepEqual(new Uint8Array(await readFile(path)), bytes);
});

test('the mode is honoured under a permissive umask and under a strict one', async (t) => {
  const dir = await tempDir(t);
  await withUmask(0o000, async () => {
    await writeFileAtomic(join(dir, 'key-open-umask'), 'k');
    await writeFileAtomic(join(dir, 'cert-open-umask'), 'c', 0o644);
  });
  await withUmask(0o077, async () => {
    await writeFileAtomic(join(dir, 'cert-strict-umask'), 'c', 0o644);
  });
  assert.equal(await modeOf(join(dir, 'key-open-umask')), 0o600);
  assert.equal(await modeOf(join(dir, 'cert-open-umask')), 0o644);
  assert.equal(await modeOf(join(dir, 'cert-strict-umask')), 0o644);
});

test('the file is 0600 from the instant it exists, not chmod-ed afterwards', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'node.key');
  // Watch the directory on every turn of the event loop while a large write runs;
  // each step of the write (open, chunks, chmod, fsync, close, rename) yields to it.
  const seen: { name: string; mode: number }[] = [];
  let done = false;
  const poll = (): void => {
    for (const name of readdirSync(dir)) {
      try {
        seen.push({ name, mode: lstatSync(join(dir, name)).mode & 0o777 });
      } catch {
        // renamed away between readdir and lstat
      }
    }
    if (!done) setImmediate(poll);
  };
  await withUmask(0o000, async () => {
    setImmediate(poll);
    await writeFileAtomic(path, Buffer.alloc(16 * 1024 * 1024, 7));
    done = true;
  });
  const temps = seen.filter((s) => s.name !== 'node.key');
  assert.ok(temps.length > 0, 'the temporary file was never observed');
  assert.ok(temps.every((s) => s.name.startsWith('.node.key.') && s.name.endsWith('.tmp')), JSON.stringify(temps.map((s) => s.name)));
  assert.deepEqual(new Set(seen.map((s) => s.mode)), new Set([0o600]));
});

test('replacing a file swaps the content whole and applies the new mode', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'agent.json');
  await writeFile(path, 'old content that is longer than the new one', { mode: 0o644 });
  await writeFileAtomic(path, 'new');
  assert.equal(await readFile(path, 'utf8'), 'new');
  assert.equal(await modeOf(path), 0o600);
});

test('a reader sees the old or the new content, never a mix or an empty file', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'state');
  const a = 'a'.repeat(1024 * 1024);
  const b = 'b'.repeat(1024 * 1024);
  await writeFileAtomic(path, a);
  const seen = new Set<string>();
  let writing = true;
  const reader = (async () => {
    while (writing) {
      const text = await readFile(path, 'utf8');
      seen.add(text === a ? 'a' : text === b ? 'b' : `torn:${text.length}`);
    }
  })();
  for (let i = 0; i < 10; i++) await writeFileAtomic(path, i % 2 === 0 ? b : a);
  writing = false;
  await reader;
  assert.deepEqual([...seen].filter((s) => s.startsWith('torn')), []);
});

test('leaves no temporary files behind', async (t) => {
  const dir = await tempDir(t);
  for (let i = 0; i < 5; i++) await writeFileAtomic(join(dir, 'file'), `v${i}`);
  await writeFileAtomic(join(dir, 'other'), 'x');
  assert.deepEqual((await readdir(dir)).sort(), ['file', 'other']);
});

test('creates missing parent directories 0700', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'a', 'b', 'node.key');
  await withUmask(0o000, () => writeFileAtomic(path, 'k'));
  assert.equal(await readFile(path, 'utf8'), 'k');
  assert.equal(await modeOf(join(dir, 'a')), 0o700);
  assert.equal(await modeOf(join(dir, 'a', 'b')), 0o700);
});

test('a failed rename leaves the target as it was and no temporary file', async (t) => {
  const dir = await tempDir(t);
  const target = join(dir, 'occupied');
  await mkdir(target);
  await writeFile(join(target, 'inside'), 'x');
  await assert.rejects(writeFileAtomic(target, 'data'), (err: NodeJS.ErrnoException) => ['EISDIR', 'ENOTEMPTY', 'EEXIST'].includes(err.code ?? ''));
  assert.deepEqual(await readdir(dir), ['occupied']);
  assert.deepEqual(await readdir(target), ['inside']);
});
