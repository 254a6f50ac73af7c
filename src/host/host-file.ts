import { lstat, readFile, readlink } from 'node:fs/promises';
import { join, posix, resolve } from 'node:path';

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

/** What a path component is, as `resolveHostLinks` needs to know. */
export type PathNode = { kind: 'plain' } | { kind: 'missing' } | { kind: 'link'; target: string };

/**
 * Resolves every symlink and `..` of a host-absolute path the way the kernel
 * would inside a chroot: an absolute link target starts again from the root, and
 * `..` never climbs above it. `lookup` tells what each component is (so a caller
 * can cache it). A missing component ends the resolution: the rest is appended as
 * written, for the eventual access to report as missing. Rejects with ELOOP past
 * 40 links.
 */
export async function resolveHostLinks(path: string, lookup: (hostPath: string) => Promise<PathNode>): Promise<string> {
  const pending = path.split('/').filter((part) => part !== '' && part !== '.');
  let resolved: string[] = [];
  let hops = 0;
  for (let part = pending.shift(); part !== undefined; part = pending.shift()) {
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const node = await lookup(`/${[...resolved, part].join('/')}`);
    if (node.kind === 'missing') return posix.join('/', ...resolved, part, ...pending);
    if (node.kind === 'plain') {
      resolved.push(part);
      continue;
    }
    if (++hops > MAX_SYMLINK_HOPS) {
      throw Object.assign(new Error(`too many levels of symbolic links: ${path}`), { code: 'ELOOP' });
    }
    if (node.target.startsWith('/')) resolved = [];
    pending.unshift(...node.target.split('/').filter((p) => p !== '' && p !== '.'));
  }
  return `/${resolved.join('/')}`;
}

/** What a component under `root` is, read from the file system. */
export async function lookupPathNode(root: string, hostPath: string): Promise<PathNode> {
  const real = join(root, hostPath);
  try {
    if (!(await lstat(real)).isSymbolicLink()) return { kind: 'plain' };
    return { kind: 'link', target: await readlink(real) };
  } catch {
    // Missing, or not searchable: the eventual access reports it with its own error.
    return { kind: 'missing' };
  }
}

/**
 * Resolves a path under a non-`/` root the way the kernel would inside a chroot:
 * an absolute symlink (`/etc/os-release → /usr/lib/os-release` on some images)
 * and `..` stay inside the root, instead of silently reading the machine the
 * collector happens to run on.
 */
export async function resolveInRoot(root: string, path: string): Promise<string> {
  if (isLiveRoot(root)) return path;
  return join(root, await resolveHostLinks(path, (hostPath) => lookupPathNode(root, hostPath)));
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
