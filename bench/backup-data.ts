/**
 * The data set of the backup benchmark (bench/backup.ts): generated, changed
 * and compared the same way on every machine.
 *
 * Everything comes from fixed seeds — AES-256-CTR keystreams for bulk random
 * bytes (fast, and independent of generation order) and a small PRNG for
 * choices — so two runs, or two machines, back up byte-identical trees.
 *
 * At scale 1 (the default of the benchmark): 400 MiB incompressible (40 files
 * of 10 MiB, half in subdirectories), 400 MiB of log-like text (8 files of
 * 50 MiB, zstd-3 ratio about 3), 20,000 small files of 1–8 KiB (half text,
 * half random) over 200 directories. --scale shrinks sizes and counts alike.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { appendFile, mkdir, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const MiB = 1024 * 1024;
const KEY = createHash('sha256').update('bulwark bench backup data set v1').digest();

/** Bulk random bytes: an AES-CTR keystream per named stream. */
export class ByteStream {
  readonly #cipher;
  readonly #zeros = Buffer.alloc(MiB);

  constructor(name: string) {
    const iv = createHash('sha256').update(name).digest().subarray(0, 16);
    this.#cipher = createCipheriv('aes-256-ctr', KEY, iv);
  }

  take(n: number): Buffer {
    const parts: Buffer[] = [];
    for (let left = n; left > 0; left -= MiB) parts.push(this.#cipher.update(this.#zeros.subarray(0, Math.min(MiB, left))));
    return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
  }
}

/** mulberry32: a 32-bit PRNG, plenty for choosing sizes, offsets and log fields. */
export class Prng {
  #state: number;

  constructor(name: string) {
    this.#state = createHash('sha256').update(name).digest().readUInt32LE(0);
  }

  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) | 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)] as T;
  }

  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [items[i], items[j]] = [items[j] as T, items[i] as T];
    }
    return items;
  }
}

const LEVELS = ['INFO', 'INFO', 'INFO', 'INFO', 'INFO', 'INFO', 'DEBUG', 'DEBUG', 'WARN', 'ERROR'] as const;
const SERVICES = ['api-gateway', 'auth', 'billing', 'inventory', 'search', 'scheduler', 'mailer', 'reports'] as const;
const METHODS = ['GET', 'GET', 'GET', 'POST', 'PUT', 'DELETE'] as const;
const PATHS = [
  '/v1/nodes/{id}/facts', '/v1/nodes/{id}', '/v1/users/{id}/sessions', '/v1/orders/{id}/items', '/v1/invoices/{id}',
  '/v1/search?q=item-{id}', '/v1/reports/daily/{id}.csv', '/static/js/app.{id}.js', '/healthz', '/metrics',
] as const;
const STATUSES = [200, 200, 200, 200, 200, 200, 201, 204, 304, 400, 401, 404, 500, 503] as const;
const MESSAGES = [
  'request completed', 'request completed', 'cache miss, fetched from origin', 'slow query detected',
  'retrying upstream call', 'token refreshed', 'connection pool exhausted, waiting', 'validation failed: missing field',
] as const;

/** Log-like text: timestamps, levels, request ids, paths, numbers. */
export class LogWriter {
  readonly #rng: Prng;
  readonly #bytes: ByteStream;
  #pool: Buffer = Buffer.alloc(0);
  #used = 0;
  #ms: number;
  #second = -1;
  #secondText = '';

  constructor(name: string, startMs = Date.UTC(2026, 10, 25, 0, 0, 0)) {
    this.#rng = new Prng(`log ${name}`);
    this.#bytes = new ByteStream(`log ${name}`);
    this.#ms = startMs;
  }

  #hex(digits: number): string {
    const n = digits / 2;
    if (this.#used + n > this.#pool.length) {
      this.#pool = this.#bytes.take(64 * 1024);
      this.#used = 0;
    }
    this.#used += n;
    return this.#pool.toString('hex', this.#used - n, this.#used);
  }

  line(): string {
    const r = this.#rng;
    this.#ms += r.int(0, 40);
    const second = Math.floor(this.#ms / 1000);
    if (second !== this.#second) {
      this.#second = second;
      this.#secondText = new Date(second * 1000).toISOString().slice(0, 20);
    }
    const dur = r.int(0, 90000);
    const service = r.pick(SERVICES);
    const path = r.pick(PATHS).replace('{id}', String(r.int(1, 50000)));
    return (
      `${this.#secondText}${String(this.#ms % 1000).padStart(3, '0')}Z ${r.pick(LEVELS).padEnd(5)} ${service}[${1000 + service.length * 97}]: ` +
      `req=${this.#hex(32)} trace=${this.#hex(32)} span=${this.#hex(16)} ${r.pick(METHODS)} ${path} status=${r.pick(STATUSES)} bytes=${r.int(0, 99999)} ` +
      `dur=${Math.floor(dur / 100)}.${String(dur % 100).padStart(2, '0')}ms user=u${r.int(1, 2000)} client=10.${r.int(0, 255)}.${r.int(0, 255)}.${r.int(1, 254)} msg="${r.pick(MESSAGES)}"\n`
    );
  }

  /** At least `n` bytes of whole lines (a little more: the last line is not cut). */
  take(n: number): Buffer {
    const lines: string[] = [];
    let size = 0;
    while (size < n) {
      const l = this.line();
      lines.push(l);
      size += l.length;
    }
    return Buffer.from(lines.join(''), 'latin1');
  }
}

export interface DataSetShape {
  randomFiles: number;
  randomFileBytes: number;
  logFiles: number;
  logFileBytes: number;
  smallFiles: number;
  smallDirs: number;
}

export function shapeFor(scale: number): DataSetShape {
  return {
    randomFiles: 40,
    randomFileBytes: Math.round(10 * MiB * scale),
    logFiles: 8,
    logFileBytes: Math.round(50 * MiB * scale),
    smallFiles: Math.max(10, Math.round(20000 * scale)),
    smallDirs: Math.max(2, Math.round(200 * scale)),
  };
}

function randomPath(i: number): string {
  return i % 2 === 0 ? join('random', `blob-${String(i).padStart(2, '0')}.bin`) : join('random', `set-${i % 4}`, `blob-${String(i).padStart(2, '0')}.bin`);
}

function logPath(i: number): string {
  return join('logs', `service-${i}.log`);
}

function smallPath(shape: DataSetShape, i: number): string {
  const dir = i % shape.smallDirs;
  return join('small', `g${String(dir % 20).padStart(2, '0')}`, `d${String(dir).padStart(3, '0')}`, `f${String(i).padStart(5, '0')}.${i % 2 === 0 ? 'txt' : 'bin'}`);
}

function smallContent(name: string, text: boolean, size: number): Buffer {
  return (text ? new LogWriter(name).take(size) : new ByteStream(name).take(size)).subarray(0, size);
}

async function writeAt(root: string, rel: string, data: Buffer): Promise<void> {
  const path = join(root, rel);
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(path, data);
}

async function inParallel<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) await work(items[next++] as T);
  }));
}

/** Writes the data set into an empty (or missing) `root`. */
export async function generate(root: string, shape: DataSetShape): Promise<void> {
  for (let i = 0; i < shape.randomFiles; i++) await writeAt(root, randomPath(i), new ByteStream(`random ${i}`).take(shape.randomFileBytes));
  for (let i = 0; i < shape.logFiles; i++) {
    const path = join(root, logPath(i));
    await mkdir(join(path, '..'), { recursive: true });
    const writer = new LogWriter(`file ${i}`);
    const f = await open(path, 'w');
    try {
      for (let left = shape.logFileBytes; left > 0; ) {
        const part = writer.take(Math.min(4 * MiB, left));
        await f.write(part);
        left -= part.length;
      }
    } finally {
      await f.close();
    }
  }
  const rng = new Prng('small sizes');
  const sizes = Array.from({ length: shape.smallFiles }, () => rng.int(1024, 8192));
  await inParallel(sizes.map((size, i) => ({ size, i })), 16, ({ size, i }) => writeAt(root, smallPath(shape, i), smallContent(`small ${i}`, i % 2 === 0, size)));
}

export interface ChangeReport {
  bytesWritten: number;
  largeFilesChanged: number;
  smallModified: number;
  smallAdded: number;
  smallDeleted: number;
}

/**
 * The ~5 % change between the first and second backup: insertions in the
 * middle of large files (content-defined chunking must find the old chunks
 * after them), overwritten ranges, appends to logs, and small files
 * modified, added and deleted.
 */
export async function applyChange(root: string, shape: DataSetShape, scale: number): Promise<ChangeReport> {
  const rng = new Prng('change');
  const report: ChangeReport = { bytesWritten: 0, largeFilesChanged: 0, smallModified: 0, smallAdded: 0, smallDeleted: 0 };
  const bytes = new ByteStream('change bytes');
  const large = rng.shuffle(Array.from({ length: shape.randomFiles }, (_, i) => i));
  const editBytes = Math.max(4096, Math.round(MiB * scale));
  // 10 insertions in the middle, 10 overwritten ranges.
  for (const i of large.slice(0, 10)) {
    const path = join(root, randomPath(i));
    const old = await readFile(path);
    const at = rng.int(Math.floor(old.length / 4), Math.floor((3 * old.length) / 4));
    await writeFile(path, Buffer.concat([old.subarray(0, at), bytes.take(editBytes), old.subarray(at)]));
    report.bytesWritten += editBytes;
    report.largeFilesChanged++;
  }
  for (const i of large.slice(10, 20)) {
    const f = await open(join(root, randomPath(i)), 'r+');
    try {
      await f.write(bytes.take(editBytes), 0, editBytes, rng.int(0, Math.max(0, shape.randomFileBytes - editBytes)));
    } finally {
      await f.close();
    }
    report.bytesWritten += editBytes;
    report.largeFilesChanged++;
  }
  // Every log grows; two also get lines inserted in the middle (a rotated, merged log).
  for (let i = 0; i < shape.logFiles; i++) {
    const path = join(root, logPath(i));
    const added = new LogWriter(`append ${i}`, Date.UTC(2026, 10, 26)).take(Math.round(2.5 * MiB * scale));
    await appendFile(path, added);
    report.bytesWritten += added.length;
    if (i < 2) {
      const old = await readFile(path);
      const at = old.indexOf(10, Math.floor(old.length / 2)) + 1;
      const inserted = new LogWriter(`insert ${i}`).take(Math.round(0.5 * MiB * scale));
      await writeFile(path, Buffer.concat([old.subarray(0, at), inserted, old.subarray(at)]));
      report.bytesWritten += inserted.length;
    }
    report.largeFilesChanged++;
  }
  const small = rng.shuffle(Array.from({ length: shape.smallFiles }, (_, i) => i));
  const modify = Math.round(1000 * (shape.smallFiles / 20000));
  const remove = Math.round(200 * (shape.smallFiles / 20000));
  const add = Math.round(500 * (shape.smallFiles / 20000));
  for (const [k, i] of small.slice(0, modify).entries()) {
    const path = join(root, smallPath(shape, i));
    if (k % 2 === 0) {
      // Rewritten with new content of a new size.
      const data = smallContent(`modified ${i}`, i % 2 === 0, rng.int(1024, 8192));
      await writeFile(path, data);
      report.bytesWritten += data.length;
    } else {
      const data = smallContent(`appended ${i}`, i % 2 === 0, rng.int(100, 600));
      await appendFile(path, data);
      report.bytesWritten += data.length;
    }
    report.smallModified++;
  }
  for (const i of small.slice(modify, modify + remove)) {
    await rm(join(root, smallPath(shape, i)));
    report.smallDeleted++;
  }
  for (let k = 0; k < add; k++) {
    const i = shape.smallFiles + k;
    const data = smallContent(`small ${i}`, i % 2 === 0, rng.int(1024, 8192));
    await writeAt(root, smallPath(shape, i), data);
    report.bytesWritten += data.length;
    report.smallAdded++;
  }
  return report;
}

export interface TreeDigest {
  files: Map<string, { size: number; sha256: string }>;
  dirs: Set<string>;
  bytes: number;
}

async function hashFile(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: MiB })) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Path, size and SHA-256 of every file under `root` (directories by path). */
export async function digestTree(root: string): Promise<TreeDigest> {
  const digest: TreeDigest = { files: new Map(), dirs: new Set(), bytes: 0 };
  const files: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    for (const e of await readdir(join(root, rel), { withFileTypes: true })) {
      const child = rel === '' ? e.name : join(rel, e.name);
      if (e.isDirectory()) {
        digest.dirs.add(child);
        await walk(child);
      } else if (e.isFile()) files.push(child);
      else throw new Error(`unexpected entry type at ${child}`);
    }
  };
  await walk('');
  await inParallel(files, 8, async (rel) => {
    const path = join(root, rel);
    const size = (await stat(path)).size;
    digest.files.set(rel, { size, sha256: await hashFile(path) });
    digest.bytes += size;
  });
  return digest;
}

/** Every difference between two trees, one line each. */
export function compareTrees(expected: TreeDigest, actual: TreeDigest): string[] {
  const out: string[] = [];
  for (const [path, e] of expected.files) {
    const a = actual.files.get(path);
    if (!a) out.push(`missing file ${path}`);
    else if (a.size !== e.size) out.push(`${path}: size ${a.size}, expected ${e.size}`);
    else if (a.sha256 !== e.sha256) out.push(`${path}: content differs`);
  }
  for (const path of actual.files.keys()) if (!expected.files.has(path)) out.push(`extra file ${path}`);
  for (const d of expected.dirs) if (!actual.dirs.has(d)) out.push(`missing directory ${d}`);
  for (const d of actual.dirs) if (!expected.dirs.has(d)) out.push(`extra directory ${d}`);
  return out;
}
