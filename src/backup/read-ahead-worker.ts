import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { startedCount } from './read-progress.js';
import type { ReadAheadBatch, ReadAheadInit } from './worker-protocol.js';

/**
 * The read-ahead thread: reads the start of small files queued for the backup
 * workers, so that theirs come from the page cache. A cold disk serves several
 * reads at once far faster than one after another, and each worker reads one
 * file at a time with blocking calls. Nothing read here is kept: only its
 * effect on the page cache counts, so any failure is simply passed over.
 */
const { progress } = workerData as ReadAheadInit;
const ring = new Int32Array(progress);
const port = parentPort;
if (!port) throw new Error('read-ahead-worker must run as a worker thread');

/** Enough for most small files whole; the kernel's own read-ahead takes a longer one further. */
const READ_BYTES = 64 * 1024;
/** Runs of work between looks at the message queue, so new batches and termination get in. */
const SLICE_MS = 20;
const scratch = Buffer.allocUnsafeSlow(READ_BYTES);
const FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY;
const queue: { batch: ReadAheadBatch; next: number }[] = [];
let scheduled = false;

function warm(path: string, inode: number, device: number): void {
  let fd: number | undefined;
  try {
    fd = openSync(path, FLAGS);
    // Only the file the walker saw, and only a regular file: never a device or a file swapped in meanwhile.
    const info = fstatSync(fd);
    if (info.isFile() && info.ino === inode && info.dev === device) readSync(fd, scratch, 0, READ_BYTES, 0);
  } catch {
    // The worker meets the same failure and reports it.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function drain(): void {
  scheduled = false;
  const until = Date.now() + SLICE_MS;
  while (queue.length > 0 && Date.now() < until) {
    const head = queue[0] as { batch: ReadAheadBatch; next: number };
    // Files a worker has begun are read already, or being read: go past them.
    head.next = Math.max(head.next, startedCount(ring, head.batch.seq));
    const file = head.batch.files[head.next];
    if (file === undefined) {
      queue.shift();
      continue;
    }
    head.next++;
    warm(file.path, file.inode, file.device);
  }
  if (queue.length > 0) schedule();
}

function schedule(): void {
  if (scheduled) return;
  scheduled = true;
  setImmediate(drain);
}

port.on('message', (batch: ReadAheadBatch) => {
  queue.push({ batch, next: 0 });
  schedule();
});
