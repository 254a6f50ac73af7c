import { type Stats, constants } from 'node:fs';
import { lstat, open, readdir, stat } from 'node:fs/promises';
import { posix } from 'node:path';
import type { AuditHost } from '../host.js';
import { AccessRefusedError, DENIED_REASON, HostPaths, NOT_REGULAR_REASON, isAccessRefused, kernelFileReason } from './path-guard.js';
import type { RuleContext } from './rules/types.js';

/** The most a rule reads of one file: policies look at configuration, not at logs or disk images. */
export const MAX_FILE_BYTES = 8 * 1024 * 1024;
const CHUNK_BYTES = 64 * 1024;

/**
 * How a file is opened for its content: never waiting for a FIFO's writer,
 * never making a terminal the controlling one, never following a symlink put
 * in place of the path just resolved and checked. (A device is refused before
 * it is opened at all: opening `/dev/watchdog` arms it.)
 */
const READ_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY | constants.O_NOFOLLOW;

/** The line that opens a PEM private key (PKCS#8, RSA, EC, OpenSSH, PGP): its file's lines are secrets. */
const PRIVATE_KEY_BLOCK = /^-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----/m;

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
 * A FIFO, socket or device is not read: it may block forever, consume what it
 * hands out, or act on hardware. A directory is left to fail as a directory.
 */
function isReadable(stats: Stats): boolean {
  return stats.isFile() || stats.isDirectory();
}

/**
 * Reads at most `MAX_FILE_BYTES` of a regular file. The size is not trusted up
 * front: files under /proc and /sys report 0 and still have content. The type is
 * checked before opening (by path) and again on the open descriptor, so a file
 * swapped for a FIFO in between is refused too.
 */
async function readCapped(path: string, hostPath: string): Promise<string> {
  if (!isReadable(await stat(path))) throw new AccessRefusedError(hostPath, NOT_REGULAR_REASON);
  const handle = await open(path, READ_FLAGS);
  try {
    if (!isReadable(await handle.stat())) throw new AccessRefusedError(hostPath, NOT_REGULAR_REASON);
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
 *
 * Every access is checked against the host's denied paths after that
 * resolution, so neither a symlink nor `..` leads into one; a refused access
 * rejects with `AccessRefusedError` and is recorded in `refusals`, from which
 * the evaluator makes the rule not applicable whatever the rule did with the
 * error.
 */
export function createRuleContext(host: AuditHost, now: number): RuleContext {
  const paths = new HostPaths(host.root, host.deniedPaths ?? []);
  const files = new Map<string, Promise<string | undefined>>();
  const stats = new Map<string, Promise<Stats | undefined>>();
  const lstats = new Map<string, Promise<Stats | undefined>>();
  const listings = new Map<string, Promise<string[] | undefined>>();
  const refusals: AccessRefusedError[] = [];
  const secretFiles = new Set<string>();

  /** Every refusal a rule meets is recorded, also when served from a cache. */
  const recorded = <T>(pending: Promise<T>): Promise<T> =>
    pending.catch((err: unknown) => {
      if (isAccessRefused(err)) refusals.push(err);
      throw err;
    });

  /** The host path a rule may use (symlinks resolved, the last one too unless `followLast` is false), or a refusal. */
  const allowed = async (path: string, followLast: boolean): Promise<string> => {
    const absolute = posix.resolve('/', path);
    // As written first: a denied path is refused before anything of it is looked at.
    if (await paths.isDenied(absolute, absolute)) throw new AccessRefusedError(path, DENIED_REASON);
    const canonical = followLast ? await paths.canonical(absolute) : posix.join(await paths.canonical(posix.dirname(absolute)), posix.basename(absolute));
    if (await paths.isDenied(absolute, canonical)) throw new AccessRefusedError(path, DENIED_REASON);
    return canonical;
  };

  const readContent = async (path: string): Promise<string> => {
    const canonical = await allowed(path, true);
    const kernel = kernelFileReason(canonical);
    if (kernel !== undefined) throw new AccessRefusedError(path, kernel);
    const text = await readCapped(paths.real(canonical), path);
    if (PRIVATE_KEY_BLOCK.test(text)) secretFiles.add(path).add(posix.resolve('/', path)).add(canonical);
    return text;
  };

  return {
    host,
    now,
    refusals,
    secretFiles,
    resolve: (path) => recorded(allowed(path, true).then((canonical) => paths.real(canonical))),
    canonical: (path) => paths.canonical(path),
    isDenied: async (path) => paths.hasDenied && paths.isDenied(path, await paths.canonical(path).catch(() => posix.resolve('/', path))),
    deniedPaths: () => paths.deniedForms(),
    readFile: (path) => recorded(memo(files, path, () => missingAsUndefined(() => readContent(path)))),
    stat: (path) => recorded(memo(stats, path, () => missingAsUndefined(async () => stat(paths.real(await allowed(path, true)))))),
    // The last component itself, not what it points to: only its parent is resolved.
    lstat: (path) => recorded(memo(lstats, path, () => missingAsUndefined(async () => lstat(paths.real(await allowed(path, false)))))),
    listDir: (path) => recorded(memo(listings, path, () => missingAsUndefined(async () => (await readdir(paths.real(await allowed(path, true)))).sort()))),
  };
}
