import type { Stats } from 'node:fs';
import { lstat, open, readdir, stat } from 'node:fs/promises';
import { posix } from 'node:path';
import { resolveInRoot } from '../../host/host-file.js';
import type { AuditHost } from '../host.js';
import type { RuleContext } from './rules/types.js';

/** The most a rule reads of one file: policies look at configuration, not at logs or disk images. */
export const MAX_FILE_BYTES = 8 * 1024 * 1024;
const CHUNK_BYTES = 64 * 1024;

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

async function missingAsUndefined<T>(op: () => Promise<T>): Promise<T | undefined> {
  try {
    return await op();
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw err;
  }
}

/**
 * Reads at most `MAX_FILE_BYTES`. The size is not trusted up front: files under
 * /proc report 0 and still have content.
 */
async function readCapped(path: string, hostPath: string): Promise<string> {
  const handle = await open(path, 'r');
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buffer = Buffer.alloc(CHUNK_BYTES);
      const { bytesRead } = await handle.read(buffer, 0, CHUNK_BYTES, null);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > MAX_FILE_BYTES) throw new Error(`${hostPath} is larger than ${MAX_FILE_BYTES / 1024 / 1024} MiB, more than a policy rule reads`);
      chunks.push(buffer.subarray(0, bytesRead));
    }
    return Buffer.concat(chunks).toString('utf8');
  } finally {
    await handle.close();
  }
}

function memo<T>(cache: Map<string, Promise<T>>, key: string, compute: () => Promise<T>): Promise<T> {
  let pending = cache.get(key);
  if (pending === undefined) {
    pending = compute();
    cache.set(key, pending);
  }
  return pending;
}

/**
 * What rules see of a host during one evaluation. Every path is host-absolute
 * and resolved under `host.root` the way a chroot would (a symlink to `/etc/x`
 * or a `..` stays inside the root); reads, stats and listings are cached for the
 * evaluation, so twenty checks of sshd_config read it once.
 */
export function createRuleContext(host: AuditHost, now: number): RuleContext {
  const files = new Map<string, Promise<string | undefined>>();
  const stats = new Map<string, Promise<Stats | undefined>>();
  const lstats = new Map<string, Promise<Stats | undefined>>();
  const listings = new Map<string, Promise<string[] | undefined>>();
  const resolve = (path: string): Promise<string> => resolveInRoot(host.root, posix.resolve('/', path));
  return {
    host,
    now,
    resolve,
    readFile: (path) => memo(files, path, () => missingAsUndefined(async () => readCapped(await resolve(path), path))),
    stat: (path) => memo(stats, path, () => missingAsUndefined(async () => stat(await resolve(path)))),
    lstat: (path) =>
      memo(lstats, path, () => {
        // The last component itself, not what it points to: only its parent is resolved.
        const absolute = posix.resolve('/', path);
        return missingAsUndefined(async () => lstat(posix.join(await resolve(posix.dirname(absolute)), posix.basename(absolute))));
      }),
    listDir: (path) => memo(listings, path, () => missingAsUndefined(async () => (await readdir(await resolve(path))).sort())),
  };
}
