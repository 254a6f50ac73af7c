import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReadAhead } from './read-ahead.js';
import { markStarted } from './read-progress.js';
import type { FileTask } from './worker-protocol.js';

/**
 * What the read-ahead read is seen in access times: each file starts with an
 * access time in 2001 and a later modification time, so under relatime (the
 * Linux default) any read moves it to now.
 */
const OLD = new Date('2001-01-01T00:00:00Z');

async function file(dir: string, name: string): Promise<FileTask> {
  const path = join(dir, name);
  await writeFile(path, randomBytes(4096));
  await utimes(path, OLD, new Date());
  const info = await stat(path);
  return { path, display: path, inode: info.ino, device: info.dev, size: info.size };
}

const wasRead = async (task: FileTask): Promise<boolean> => (await stat(task.path)).atimeMs > OLD.getTime();

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.fail(`timed out waiting for ${what}`);
}

test('the read-ahead reads the files it is given, passes over begun, swapped and special files, and never stalls on a FIFO', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'bulwark-readahead-'));
  const ahead = new ReadAhead();
  try {
    const probe = await file(dir, 'probe');
    readFileSync(probe.path);
    if (!(await wasRead(probe))) {
      t.skip(`${dir} is on a file system that does not record reads in access times (noatime); nothing to observe`);
      return;
    }

    // Batch 0: the first two files are begun by a worker already; the rest must be read.
    const first = await Promise.all(['a0', 'a1', 'a2', 'a3'].map((n) => file(dir, n)));
    markStarted(ahead.progress, 0, 1);
    assert.equal(ahead.offer(first), 0);
    await until('a2 and a3 to be read', async () => (await wasRead(first[2] as FileTask)) && (await wasRead(first[3] as FileTask)));
    assert.equal(await wasRead(first[0] as FileTask), false, 'a file a worker began is not read again');
    assert.equal(await wasRead(first[1] as FileTask), false);

    // Batch 1: a FIFO (the walker saw a file there), a file swapped for another since the walk, then a plain file.
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const fifoInfo = await stat(fifo);
    const original = await file(dir, 'original');
    const swapped = await file(dir, 'swapped');
    const last = await file(dir, 'last');
    const second: FileTask[] = [
      { path: fifo, display: fifo, inode: fifoInfo.ino, device: fifoInfo.dev, size: 0 },
      { ...swapped, inode: original.inode },
      last,
    ];
    assert.equal(ahead.offer(second), 1);
    await until('the file after the FIFO to be read', () => wasRead(last));
    assert.equal(await wasRead(swapped), false, 'a file that is not the one the walker saw is not read');
  } finally {
    await ahead.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('the read-ahead gives batch numbers in order and none once closed', async () => {
  const ahead = new ReadAhead();
  assert.equal(ahead.offer([]), 0);
  assert.equal(ahead.offer([]), 1);
  await ahead.close();
  assert.equal(ahead.offer([]), undefined, 'a closed read-ahead takes nothing');
});
