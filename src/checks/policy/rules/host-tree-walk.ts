import type { Stats } from 'node:fs';
import { lstatSync, readdirSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { join, normalize } from 'node:path/posix';
import { isUnderAny } from '../path-guard.js';
import type { RuleContext } from './types.js';

/**
 * Kernel and runtime pseudo-filesystems: their contents describe processes and
 * devices, not files an administrator placed, and walking `/proc` of a live
 * machine would never end.
 */
export const PSEUDO_FILESYSTEMS: readonly string[] = ['/proc', '/sys', '/dev', '/run'];

/**
 * Entries read between two yields to the event loop. The walk uses synchronous
 * lstat and readdir — a promise per entry costs tens of microseconds, a
 * synchronous call a few — and yields regularly so an agent walking 200,000
 * files still answers heartbeats.
 */
const ENTRIES_PER_SLICE = 2_000;

export interface WalkEntry {
  /** Host-absolute path, as the administrator would see it. */
  path: string;
  stats: Stats;
  /** 0 for a start directory, 1 for its entries, and so on. */
  depth: number;
}

export interface WalkOptions {
  /** Deepest level visited (0: the start paths only); unbounded when absent. */
  maxDepth?: number;
  /** Entries visited before the walk gives up. */
  maxEntries: number;
  /**
   * Stay on the file system of each start path, as `find -xdev` does: network
   * mounts, container volumes and backup disks are audited where they live, not
   * from every machine that mounts them.
   */
  sameFilesystem?: boolean;
}

export interface WalkSummary {
  /** true when the walk stopped at `maxEntries`: what it saw is then not the whole tree. */
  truncated: boolean;
  visited: number;
  /** Directories whose listing failed (permissions, or gone meanwhile). */
  unreadable: string[];
}

function isPseudo(path: string): boolean {
  return PSEUDO_FILESYSTEMS.some((p) => path === p || path.startsWith(`${p}/`));
}

interface Pending {
  path: string;
  /** The host path with symlinks resolved: what the denied-path check compares. */
  canonical: string;
  real: string;
  stats: Stats;
  depth: number;
}

/**
 * Walks host trees under the audit root in sorted pre-order, like `find`: a start
 * path that is a symlink is followed (`/bin` → `/usr/bin` on merged-/usr
 * systems), nothing below it is. Pseudo-filesystems are never entered (a start
 * path is normalised first, and checked again once resolved, so neither
 * `/etc/../proc` nor a symlink to `/proc` leads in), nor are paths denied to
 * audits, which are passed over as if they were not there; a directory reached
 * twice (`/usr` and `/bin` both given) is walked once.
 */
export async function walkHostTree(
  ctx: RuleContext,
  starts: readonly string[],
  opts: WalkOptions,
  visit: (entry: WalkEntry) => void,
): Promise<WalkSummary> {
  const seenDirs = new Set<string>();
  const unreadable: string[] = [];
  let visited = 0;
  const denied = await ctx.deniedPaths();
  const excluded = (path: string, canonical: string): boolean => isPseudo(path) || isPseudo(canonical) || isUnderAny(path, denied) || isUnderAny(canonical, denied);
  for (const given of starts) {
    const start = normalize(given);
    if (isPseudo(start) || (await ctx.isDenied(start))) continue;
    const canonical = await ctx.canonical(start).catch(() => undefined);
    if (canonical === undefined || excluded(start, canonical)) continue;
    const real = await ctx.resolve(start);
    const startStats = await stat(real).catch(() => undefined);
    if (startStats === undefined) continue;
    const stack: Pending[] = [{ path: start, canonical, real, stats: startStats, depth: 0 }];
    for (let entry = stack.pop(); entry !== undefined; entry = stack.pop()) {
      const isDir = entry.stats.isDirectory();
      // A mount point is listed (it is an entry of this file system) but not entered.
      const otherFilesystem = opts.sameFilesystem === true && entry.stats.dev !== startStats.dev;
      if (isDir) {
        const id = `${entry.stats.dev}:${entry.stats.ino}`;
        if (seenDirs.has(id)) continue;
        seenDirs.add(id);
      }
      if (++visited > opts.maxEntries) return { truncated: true, visited: opts.maxEntries, unreadable };
      if (visited % ENTRIES_PER_SLICE === 0) await yieldToEventLoop();
      visit({ path: entry.path, stats: entry.stats, depth: entry.depth });
      if (!isDir || otherFilesystem || (opts.maxDepth !== undefined && entry.depth >= opts.maxDepth)) continue;
      let names: string[];
      try {
        names = readdirSync(entry.real).sort();
      } catch {
        unreadable.push(entry.path);
        continue;
      }
      // Pushed in reverse so the stack pops them in sorted order.
      for (let i = names.length - 1; i >= 0; i--) {
        const name = names[i] as string;
        const path = join(entry.path, name);
        // Below a start nothing is followed, so the resolved path is the parent's plus the name.
        const canonical = join(entry.canonical, name);
        if (excluded(path, canonical)) continue;
        const real = join(entry.real, name);
        let stats: Stats | undefined;
        try {
          // An entry gone between the listing and its lstat is simply not there.
          stats = lstatSync(real, { throwIfNoEntry: false });
        } catch {
          // A directory readable but not searchable (r without x) lists names it cannot stat.
          unreadable.push(path);
          continue;
        }
        if (stats !== undefined) stack.push({ path, canonical, real, stats, depth: entry.depth + 1 });
      }
    }
  }
  return { truncated: false, visited, unreadable };
}
