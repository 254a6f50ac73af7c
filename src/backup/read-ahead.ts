import type { Worker } from 'node:worker_threads';
import { findWorkerEntry, startWorker } from '../core/worker-entry.js';
import { progressRing } from './read-progress.js';
import type { FileTask, ReadAheadBatch, ReadAheadInit } from './worker-protocol.js';

let entry: URL | undefined;

/**
 * The main thread's side of the read-ahead thread (read-ahead-worker.ts): it is
 * given each batch of small files as the batch is made, and reads ahead of the
 * workers. It only warms the page cache, so a backup goes on without it when it
 * cannot start or fails.
 */
export class ReadAhead {
  /** Shared with the backup workers, which mark the files they begin. */
  readonly progress = progressRing();
  #worker: Worker | undefined;
  #started = false;
  #nextSeq = 0;

  /** Hands a batch over; its number in the progress ring, or undefined when no read-ahead runs. */
  offer(files: readonly FileTask[]): number | undefined {
    const worker = this.#start();
    if (!worker) return undefined;
    const batch: ReadAheadBatch = { seq: this.#nextSeq++, files: files.map((f) => ({ path: f.path, inode: f.inode, device: f.device })) };
    worker.postMessage(batch);
    return batch.seq;
  }

  #start(): Worker | undefined {
    if (this.#started) return this.#worker;
    this.#started = true;
    try {
      entry ??= findWorkerEntry('read-ahead-worker', import.meta.url);
      const init: ReadAheadInit = { progress: this.progress.buffer as SharedArrayBuffer };
      // A small young generation: this thread allocates next to nothing, and each megabyte reserved is resident.
      const worker = startWorker(entry, { workerData: init, resourceLimits: { maxYoungGenerationSizeMb: 1 } });
      worker.on('error', () => {
        if (this.#worker === worker) this.#worker = undefined;
      });
      this.#worker = worker;
    } catch {
      this.#worker = undefined;
    }
    return this.#worker;
  }

  async close(): Promise<void> {
    const worker = this.#worker;
    this.#worker = undefined;
    await worker?.terminate();
  }
}
