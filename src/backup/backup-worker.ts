import { closeSync, constants, fstatSync, openSync, read, readSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { promisify } from 'node:util';
import { joinOwned, openBlob, ownedForTransfer } from './blob-codec.js';
import { Chunker, gearTable } from './chunker.js';
import { BlobCompressor } from './compress.js';
import { BLOB_DATA, blobAad, blobId, SEAL_OVERHEAD, sealInto, type BlobType, type RepositoryKeys } from './crypto.js';
import { markStarted } from './read-progress.js';
import { SMALL_FILE_BYTES, type FileOutcome, type FileTask, type FromWorker, type RegionBlob, type ToWorker, type WorkerError, type WorkerInit } from './worker-protocol.js';

/**
 * A backup worker: reads files, cuts them into chunks, names each chunk by its
 * keyed hash, asks the main thread which chunks are new, and seals those,
 * all on this thread: there are as many workers as cores, and the pool gives
 * each one job at a time (worker-pool.ts).
 */
const init = workerData as WorkerInit;
const keys: RepositoryKeys = { encryption: Buffer.from(init.encryption), mac: Buffer.from(init.mac), chunker: Buffer.from(init.chunker) };
const table = gearTable(keys.chunker);
const progress = new Int32Array(init.progress);
const port = parentPort;
if (!port) throw new Error('backup-worker must run as a worker thread');

/** Working buffers: 12 MiB holds the largest chunk (8 MiB) plus a read; reused, since fresh large buffers cost page faults here. */
const BUFFER_BYTES = 12 * 1024 * 1024;
const READ_BYTES = 4 * 1024 * 1024;
const compressor = new BlobCompressor();
const readAsync = promisify(read);
const spare: Buffer[] = [];
const takeBuffer = (): Buffer => spare.pop() ?? Buffer.allocUnsafeSlow(BUFFER_BYTES);
const giveBuffer = (b: Buffer): void => {
  if (spare.length < 2) spare.push(b);
};

/**
 * Buffers sealed blobs travelled in, handed back by the main thread once it wrote them
 * out: reused, so batches do not keep taking fresh memory from this thread's allocator
 * (which then holds on to it). A few are kept, the largest.
 */
const returned: ArrayBuffer[] = [];
const RETURNED_KEPT = 2;
/** A fresh outgoing buffer is at least this large, so a reused one usually fits. */
const OUTGOING_MIN_BYTES = 1024 * 1024;

function outgoing(bytes: number): Uint8Array {
  const fit = returned.findIndex((b) => b.byteLength >= bytes);
  const buffer = fit >= 0 ? (returned.splice(fit, 1)[0] as ArrayBuffer) : (Buffer.allocUnsafeSlow(Math.max(bytes, OUTGOING_MIN_BYTES)).buffer as ArrayBuffer);
  return new Uint8Array(buffer, 0, bytes);
}

function keepReturned(buffer: ArrayBuffer): void {
  returned.push(buffer);
  returned.sort((a, b) => b.byteLength - a.byteLength);
  returned.length = Math.min(returned.length, RETURNED_KEPT);
}

let nextReq = 0;
const waiting = new Map<number, (answer: Uint8Array) => void>();

function answerOf(req: number): Promise<Uint8Array> {
  return new Promise<Uint8Array>((resolve) => waiting.set(req, resolve));
}

function send(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  port?.postMessage(message, transfer);
}

interface PendingChunk {
  file: number;
  start: number;
  length: number;
  id: Buffer;
}

class Job {
  readonly buf = takeBuffer();
  readonly pending: PendingChunk[] = [];
  readonly outcomes: { ids: Buffer[]; size: number; error?: string }[] = [];

  constructor(
    readonly id: number,
    readonly files: FileTask[],
    /** The batch's number in the progress ring, when the read-ahead thread reads ahead of it. */
    readonly seq: number | undefined,
  ) {}

  /** Asks which pending chunks are new, seals those, sends them; the buffer region they used is then free. */
  async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const chunks = this.pending.splice(0);
    const req = nextReq++;
    const ids = joinOwned(chunks.map((c) => c.id));
    const answer = answerOf(req);
    send({ t: 'lookup', req, job: this.id, ids, lengths: chunks.map((c) => c.length) }, [ids.buffer as ArrayBuffer]);
    const fresh = await answer;
    // Sealed here, on this thread, one after another: this thread is one of as many as there are cores,
    // and handing each blob to another thread cost more (wake-ups, buffers) than compressing a small one.
    // Straight into the buffer the batch travels in, sized for the worst case (nothing shrinks).
    let room = 0;
    for (const [i, c] of chunks.entries()) if (fresh[i] === 1) room += c.length + SEAL_OVERHEAD;
    if (room === 0) return;
    const space = outgoing(room);
    const newIds: Buffer[] = [];
    const lengths: number[] = [];
    const rawLengths: number[] = [];
    let at = 0;
    for (const [i, c] of chunks.entries()) {
      if (fresh[i] !== 1) continue;
      const length = sealInto(keys.encryption, compressor.compress(this.buf.subarray(c.start, c.start + c.length)), blobAad(BLOB_DATA, c.id), space, at);
      at += length;
      newIds.push(c.id);
      lengths.push(length);
      rawLengths.push(c.length);
    }
    const newIdBytes = joinOwned(newIds);
    const data = space.subarray(0, at);
    const stored = nextReq++;
    const taken = answerOf(stored);
    send({ t: 'blobs', req: stored, job: this.id, blobs: { ids: newIdBytes, data, lengths, rawLengths } }, [newIdBytes.buffer as ArrayBuffer, data.buffer as ArrayBuffer]);
    const back = await taken;
    if (back.byteLength > 0) keepReturned(back.buffer as ArrayBuffer);
  }

  chunk(file: number, start: number, length: number): void {
    const id = blobId(keys.mac, BLOB_DATA, this.buf.subarray(start, start + length));
    this.pending.push({ file, start, length, id });
    (this.outcomes[file] as { ids: Buffer[] }).ids.push(id);
  }

  async readFile(index: number, task: FileTask, at: number): Promise<number> {
    const outcome: { ids: Buffer[]; size: number; error?: string } = { ids: [], size: 0 };
    this.outcomes[index] = outcome;
    let fd: number | undefined;
    try {
      fd = openSync(task.path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
      const info = fstatSync(fd);
      if (!info.isFile() || info.ino !== task.inode || info.dev !== task.device) throw Object.assign(new Error('it was replaced while the backup ran'), { code: 'ECHANGED' });
      // A small file is read with blocking calls: its reads are few and short, and each call
      // handed to libuv's threads would cost a wake-up of two threads. A large one is read
      // through libuv's threads, 4 MiB at a time, where a hand-off costs nothing against the read.
      const small = info.size <= SMALL_FILE_BYTES;
      const opened = fd;
      const readInto = async (offset: number, length: number): Promise<number> =>
        small ? readSync(opened, this.buf, offset, length, null) : (await readAsync(opened, this.buf, offset, length, null)).bytesRead;
      const chunker = new Chunker(table);
      let start = at; // where the current (incomplete) chunk begins in buf
      let end = at; // end of the data read so far
      for (;;) {
        if (this.buf.length - end < READ_BYTES) {
          // Make room: send what is complete, then move the incomplete chunk to the front.
          await this.flush();
          this.buf.copyWithin(0, start, end);
          end -= start;
          start = 0;
        }
        const bytesRead = await readInto(end, Math.min(READ_BYTES, this.buf.length - end));
        if (bytesRead === 0) break;
        const cuts = chunker.push(this.buf.subarray(end, end + bytesRead));
        end += bytesRead;
        outcome.size += bytesRead;
        for (const length of cuts) {
          this.chunk(index, start, length);
          start += length;
        }
      }
      const last = chunker.finish();
      if (last !== undefined) {
        this.chunk(index, start, last);
        start += last;
      }
      return end;
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      outcome.error = e.code === 'ECHANGED' ? e.message : `cannot read (${e.code ?? e.message})`;
      // Chunks of a failed file already cut are still valid blobs, merely unreferenced: send them and start afresh.
      await this.flush();
      return 0;
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }

  async run(): Promise<FileOutcome[]> {
    let at = 0;
    for (const [index, task] of this.files.entries()) {
      // Small files share the buffer (and one lookup) until it fills.
      if (this.buf.length - at < READ_BYTES + 1024 * 1024) {
        await this.flush();
        at = 0;
      }
      if (this.seq !== undefined) markStarted(progress, this.seq, index);
      at = await this.readFile(index, task, at);
    }
    await this.flush();
    giveBuffer(this.buf);
    return this.outcomes.map((o) => ({ content: joinOwned(o.ids), size: o.size, ...(o.error === undefined ? {} : { error: o.error }) }));
  }
}

async function runJob(id: number, files: FileTask[], seq: number | undefined): Promise<void> {
  const outcomes = await new Job(id, files, seq).run();
  send({ t: 'done', job: id, files: outcomes }, outcomes.map((o) => o.content.buffer as ArrayBuffer));
}

function openRequest(req: number, type: number, id: Uint8Array, sealed: Uint8Array, rawLength: number): void {
  try {
    const opened = openBlob(keys, type as BlobType, id, sealed, rawLength);
    // Sent by transfer, so it must own its memory exactly; most outputs do already, and need no copy.
    const plain = ownedForTransfer(opened);
    send({ t: 'opened', req, plain }, [plain.buffer as ArrayBuffer]);
  } catch (err) {
    send({ t: 'opened', req, error: crossing(err) });
  }
}

function crossing(err: unknown): WorkerError {
  const code = (err as { code?: unknown } | undefined)?.code;
  const message = err instanceof Error && err.message !== '' ? err.message : String(err);
  return typeof code === 'string' ? { code, message } : { message };
}

function verifyRequest(req: number, region: Uint8Array, blobs: readonly RegionBlob[]): void {
  const errors = blobs.map((b) => {
    try {
      openBlob(keys, b.type as BlobType, b.id, region.subarray(b.offset, b.offset + b.length), b.rawLength);
      return null;
    } catch (err) {
      return crossing(err);
    }
  });
  send({ t: 'verified', req, errors });
}

port.on('message', (message: ToWorker) => {
  if (message.t === 'job') {
    runJob(message.job, message.files, message.seq).catch((err: unknown) => send({ t: 'fatal', message: (err as Error).message }));
  } else if (message.t === 'known' || message.t === 'stored') {
    const resolve = waiting.get(message.req);
    waiting.delete(message.req);
    resolve?.(message.t === 'known' ? message.fresh : message.buffer ? new Uint8Array(message.buffer) : new Uint8Array(0));
  } else if (message.t === 'verify') {
    verifyRequest(message.req, message.region, message.blobs);
  } else {
    openRequest(message.req, message.type, message.id, message.sealed, message.rawLength);
  }
});
