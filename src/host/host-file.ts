import { lstat, readFile, readlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';

/** Resolves a host-absolute path such as `/proc/uptime` under the collection root. */
export function hostPath(root: string, path: string): string {
  return join(root, path);
}

/** Whether the collector is reading the machine it runs on, rather than a fixture tree. */
export function isLiveRoot(root: string): boolean {
  return resolve(root) === '/';
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

const MAX_SYMLINK_HOPS = 40;

/**
 * Resolves a path under a non-`/` root the way the kernel would inside a chroot:
 * an absolute symlink (`/etc/os-release → /usr/lib/os-release` on some images)
 * and `..` stay inside the root, instead of silently reading the machine the
 * collector happens to run on.
 */
export async function resolveInRoot(root: string, path: string): Promise<string> {
  if (isLiveRoot(root)) return path;
  const pending = path.split('/').filter((part) => part !== '' && part !== '.');
  let resolved: string[] = [];
  let hops = 0;
  for (let part = pending.shift(); part !== undefined; part = pending.shift()) {
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const candidate = join(root, ...resolved, part);
    let isLink: boolean;
    try {
      isLink = (await lstat(candidate)).isSymbolicLink();
    } catch {
      // Let the eventual read report the missing component with its own error.
      return join(candidate, ...pending);
    }
    if (!isLink) {
      resolved.push(part);
      continue;
    }
    if (++hops > MAX_SYMLINK_HOPS) {
      throw Object.assign(new Error(`too many levels of symbolic links: ${path}`), { code: 'ELOOP' });
    }
    const target = await readlink(candidate);
    if (target.startsWith('/')) resolved = [];
    pending.unshift(...target.split('/').filter((p) => p !== '' && p !== '.'));
  }
  return join(root, ...resolved);
}

/**
 * Reads a text file under the root, or `undefined` when it does not exist. Other
 * failures (permission, a directory where a file should be) still throw, so the
 * caller can tell "not there" from "could not look".
 */
export async function readHostFile(root: string, path: string): Promise<string | undefined> {
  try {
    return await readFile(await resolveInRoot(root, path), 'utf8');
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw err;
  }
}

/**
 * Reads the first of several candidate files that can be read. A candidate that
 * fails for any reason gives way to the next, since the fallbacks exist exactly
 * for hosts where the preferred source is absent or locked down.
 */
export async function readFirstHostFile(root: string, paths: readonly string[]): Promise<string | undefined> {
  let lastError: unknown;
  for (const path of paths) {
    try {
      const text = await readHostFile(root, path);
      if (text !== undefined) return text;
    } catch (err) {
      lastError = err;
    }
  }
  if (lastError !== undefined) throw lastError;
  return undefined;
}
