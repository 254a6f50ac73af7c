import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { BulwarkError } from '../core/errors.js';
import { findWorkerEntry, startWorker } from '../core/worker-entry.js';
import { ownedForTransfer } from './blob-codec.js';
import type { BlobType, RepositoryKeys } from './crypto.js';
import { ReadAhead } from './read-ahead.js';
import type { PackWriter } from './repository.js';
import { SMALL_FILE_BYTES, type FileOutcome, type FileTask, type FromWorker, type RegionBlob, type ToWorker, type WorkerError, type WorkerInit } from './worker-protocol.js';

export interface FileResult {
  /** Data blob ids in file order. */
  content: Buffer[];
  size: number;
  error?: string;
}

const BATCH_FILES = 128;
const BATCH_BYTES = 6 * 1024 * 1024;
/**
 * Jobs a worker works on at once. One: a worker seals on its own thread, so a second
 * job overlapped little (initial backup 6.2–6.5 s either way) and held 12 MiB more.
 */
const JOBS_PER_WORKER = 1;

interface Slot {
  worker: Worker;
  jobs: number;
}

interface QueuedJob {
  files: FileTask[];
  /** Its number in the read-ahead's progress ring, when it was given to the read-ahead. */
  seq: number | undefined;
  resolve: (results: FileOutcome[]) => void;
  reject: (err: unknown) => void;
}

let entry: URL | undefined;

/**
 * The worker threads of one backup (or restore): file jobs go to the least busy
 * worker; sealed blobs come back and go straight into the pack writer. The
 * main thread keeps the index, so deciding "new or known" is one lookup per
 * chunk there, and a blob two workers meet at once is stored once.
 */
export class WorkerPool {
  readonly #slots: Slot[] = [];
  readonly #queue: QueuedJob[] = [];
  readonly #jobs = new Map<number, { slot: Slot; job: QueuedJob; blobWrites: Promise<void>[] }>();
  readonly #opens = new Map<number, { resolve: (value: unknown) => void; reject: (e: unknown) => void }>();
  #nextJob = 0;
  #nextOpen = 0;
  #failure: unknown;
  #batch: { task: FileTask; resolve: (r: FileResult) => void; reject: (e: unknown) => void }[] = [];
  #batchBytes = 0;
  readonly #readAhead = new ReadAhead();

  readonly #init: WorkerInit;
  readonly #size: number;

  /** Workers start on first use: a backup with nothing new to read never starts them. */
  constructor(
    keys: RepositoryKeys,
    private readonly writer: PackWriter | undefined,
    size = Math.max(1, availableParallelism()),
  ) {
    entry ??= findWorkerEntry('backup-worker', import.meta.url);
    this.#init = { encryption: keys.encryption, mac: keys.mac, chunker: keys.chunker, progress: this.#readAhead.progress.buffer as SharedArrayBuffer };
    this.#size = size;
  }

  #start(): void {
    if (this.#slots.length > 0 || entry === undefined) return;
    const init = this.#init;
    for (let i = 0; i < this.#size; i++) {
      const worker = startWorker(entry, { workerData: init });
      const slot: Slot = { worker, jobs: 0 };
      worker.on('message', (m: FromWorker) => this.#onMessage(slot, m));
      worker.on('error', (err) => this.#fail(err));
      worker.on('exit', (code) => {
        if (code !== 0) this.#fail(new BulwarkError('INTERNAL', `a backup worker exited with code ${code}`));
      });
      this.#slots.push(slot);
    }
  }

  /** Backs up one file's content; small files are batched with others (call `flushBatch` before waiting on them). */
  file(task: FileTask): Promise<FileResult> {
    const size = task.size;
    if (size > SMALL_FILE_BYTES) return this.#run([task], undefined).then((r) => toResult(r[0] as FileOutcome));
    return new Promise((resolve, reject) => {
      this.#batch.push({ task, resolve, reject });
      this.#batchBytes += size;
      if (this.#batch.length >= BATCH_FILES || this.#batchBytes >= BATCH_BYTES) this.flushBatch();
    });
  }

  /** Sends the files batched so far. */
  flushBatch(): void {
    if (this.#batch.length === 0) return;
    const batch = this.#batch;
    this.#batch = [];
    this.#batchBytes = 0;
    const tasks = batch.map((b) => b.task);
    this.#run(tasks, this.#readAhead.offer(tasks)).then(
      (outcomes) => batch.forEach((b, i) => b.resolve(toResult(outcomes[i] as FileOutcome))),
      (err: unknown) => batch.forEach((b) => b.reject(err)),
    );
  }

  /**
   * Decrypts, decompresses and verifies a blob on a worker. `sealed` is handed
   * over, not copied, when it is a buffer of its own: it is unusable here afterwards.
   */
  openBlob(type: BlobType, id: Uint8Array, sealed: Buffer, rawLength: number): Promise<Buffer> {
    return this.#ask<Buffer>((req, slot) => {
      const own = ownedForTransfer(sealed);
      // The id gets memory of its own too: a view into Node's 8 KiB buffer pool would be cloned with the whole pool.
      const message: ToWorker = { t: 'open', req, type, id: new Uint8Array(id), sealed: own, rawLength };
      // Handed over rather than cloned: a copy of every blob's bytes on this (busy) thread, and memory it would hold until its next GC.
      slot.worker.postMessage(message, [own.buffer as ArrayBuffer]);
    });
  }

  /**
   * Opens every blob of a region of a pack on a worker, only to see that each is
   * sound: one message for many blobs. Gives, per blob in order, true or the
   * REPOSITORY_DAMAGED error saying why not; any other failure rejects (it is the
   * checker's, not the blob's). `region` is handed over like `openBlob`'s `sealed`.
   */
  verifyBlobs(region: Buffer, blobs: readonly RegionBlob[]): Promise<(true | BulwarkError)[]> {
    return this.#ask<(WorkerError | null)[]>((req, slot) => {
      const own = ownedForTransfer(region);
      const message: ToWorker = { t: 'verify', req, region: own, blobs: blobs.map((b) => ({ ...b, id: new Uint8Array(b.id) })) };
      slot.worker.postMessage(message, [own.buffer as ArrayBuffer]);
    }).then((errors) => {
      if (errors.length !== blobs.length) throw new BulwarkError('INTERNAL', `a backup worker answered for ${errors.length} blobs, not ${blobs.length}`);
      const outcomes = errors.map((e) => (e === null ? (true as const) : fromWorker(e)));
      const fault = outcomes.find((o) => o !== true && o.code !== 'REPOSITORY_DAMAGED');
      if (fault) throw fault;
      return outcomes;
    });
  }

  /** Sends one request to the next worker in turn; its answer settles the promise. */
  #ask<T>(post: (req: number, slot: Slot) => void): Promise<T> {
    if (this.#failure) return Promise.reject(this.#failure);
    this.#start();
    const req = this.#nextOpen++;
    const slot = this.#slots[req % this.#slots.length] as Slot;
    return new Promise<T>((resolve, reject) => {
      this.#opens.set(req, { resolve: resolve as (value: unknown) => void, reject });
      post(req, slot);
    });
  }

  /** Stops the workers and the read-ahead (Node closes the descriptors a worker opened when it is terminated mid-job). */
  async close(): Promise<void> {
    await Promise.all([...this.#slots.map((s) => s.worker.terminate()), this.#readAhead.close()]);
  }

  #run(files: FileTask[], seq: number | undefined): Promise<FileOutcome[]> {
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      this.#queue.push({ files, seq, resolve, reject });
      this.#dispatch();
    });
  }

  #dispatch(): void {
    if (this.#queue.length > 0) this.#start();
    while (this.#queue.length > 0) {
      const slot = this.#slots.reduce((a, b) => (b.jobs < a.jobs ? b : a));
      if (slot.jobs >= JOBS_PER_WORKER) return;
      const job = this.#queue.shift() as QueuedJob;
      const id = this.#nextJob++;
      slot.jobs++;
      this.#jobs.set(id, { slot, job, blobWrites: [] });
      const message: ToWorker = { t: 'job', job: id, files: job.files, ...(job.seq === undefined ? {} : { seq: job.seq }) };
      slot.worker.postMessage(message);
    }
  }

  #onMessage(slot: Slot, m: FromWorker): void {
    if (m.t === 'lookup') {
      if (!this.writer) return this.#fail(new BulwarkError('INTERNAL', 'a worker asked to store data in a read-only pool'));
      const fresh = new Uint8Array(m.lengths.length);
      for (let i = 0; i < fresh.length; i++) fresh[i] = this.writer.claim(Buffer.from(m.ids.buffer, m.ids.byteOffset + i * 32, 32)) ? 1 : 0;
      const reply: ToWorker = { t: 'known', req: m.req, fresh };
      slot.worker.postMessage(reply, [fresh.buffer]);
    } else if (m.t === 'blobs') {
      const running = this.#jobs.get(m.job);
      const writer = this.writer;
      if (!running || !writer) return;
      // Blobs are added in arrival order; the writer applies back-pressure by making this wait while packs upload.
      const previous = running.blobWrites.at(-1) ?? Promise.resolve();
      const { ids, data, lengths, rawLengths } = m.blobs;
      const written = previous.then(async () => {
        // Views into the one transferred buffer: the pack writes them as they are.
        let at = 0;
        const blobs = lengths.map((length, i) => {
          const blob = { id: Buffer.from(ids.buffer, ids.byteOffset + i * 32, 32), sealed: Buffer.from(data.buffer, data.byteOffset + at, length), rawLength: rawLengths[i] as number };
          at += length;
          return blob;
        });
        // Once written out, the buffer goes back to its worker for the next batch: no new
        // memory per batch on its side, and none for this thread's collector to free later.
        if (await writer.addWritten(blobs)) {
          const ack: ToWorker = { t: 'stored', req: m.req, buffer: data.buffer as ArrayBuffer };
          slot.worker.postMessage(ack, [data.buffer as ArrayBuffer]);
        } else {
          const ack: ToWorker = { t: 'stored', req: m.req };
          slot.worker.postMessage(ack);
        }
      });
      // Storage failed (the writer's failure sticks): the worker would wait for its acknowledgement forever, so every job fails now.
      written.catch((err: unknown) => this.#fail(err));
      running.blobWrites.push(written);
    } else if (m.t === 'done') {
      const running = this.#jobs.get(m.job);
      if (!running) return;
      this.#jobs.delete(m.job);
      Promise.all(running.blobWrites).then(
        () => running.job.resolve(m.files),
        (err: unknown) => running.job.reject(err),
      );
      slot.jobs--;
      this.#dispatch();
    } else if (m.t === 'verified') {
      const waiter = this.#opens.get(m.req);
      this.#opens.delete(m.req);
      waiter?.resolve(m.errors);
    } else if (m.t === 'opened') {
      const waiter = this.#opens.get(m.req);
      this.#opens.delete(m.req);
      if (m.plain) waiter?.resolve(Buffer.from(m.plain.buffer, m.plain.byteOffset, m.plain.byteLength));
      else waiter?.reject(fromWorker(m.error ?? { message: 'it sent neither a blob nor an error' }));
    } else {
      this.#fail(new BulwarkError('INTERNAL', `a backup worker failed: ${m.message}`));
    }
  }

  #fail(err: unknown): void {
    this.#failure ??= err;
    for (const { job } of this.#jobs.values()) job.reject(err);
    this.#jobs.clear();
    for (const job of this.#queue.splice(0)) job.reject(err);
    for (const waiter of this.#opens.values()) waiter.reject(err);
    this.#opens.clear();
  }
}

/** A worker's error about a blob, on this side: damage stays damage; anything else is a fault of this run, not of the blob. */
function fromWorker(e: WorkerError): BulwarkError {
  return e.code === 'REPOSITORY_DAMAGED' ? new BulwarkError('REPOSITORY_DAMAGED', e.message) : new BulwarkError('INTERNAL', `a backup worker failed: ${e.message}`);
}

function toResult(outcome: FileOutcome): FileResult {
  const content: Buffer[] = [];
  const all = Buffer.from(outcome.content.buffer, outcome.content.byteOffset, outcome.content.byteLength);
  for (let at = 0; at < all.length; at += 32) content.push(all.subarray(at, at + 32));
  return { content, size: outcome.size, ...(outcome.error === undefined ? {} : { error: outcome.error }) };
}
