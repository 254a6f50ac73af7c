import { posix } from 'node:path';
import { escapeRegExp } from '../regex/compiled-regex.js';
import { memoize } from './context-memo.js';
import { readText, splitLines } from './read-text.js';
import type { RuleContext } from './types.js';

/** Where sysctl.d files live, highest priority first: a file in /etc hides the same name in /run and /usr/lib. */
const SYSCTL_DIRS = ['/etc/sysctl.d', '/run/sysctl.d', '/usr/local/lib/sysctl.d', '/usr/lib/sysctl.d', '/lib/sysctl.d'];
export const SYSCTL_CONF = '/etc/sysctl.conf';

export interface SysctlAssignment {
  file: string;
  line: number;
  /** The key in dotted form (`net.ipv4.ip_forward`); may hold `*` globs. */
  key: string;
  value: string;
  text: string;
}

export interface PersistedSysctl {
  /** In the order sysctl applies them: a later assignment wins. */
  assignments: SysctlAssignment[];
  /** Files that could not be read, with why. */
  errors: string[];
}

/** `net/ipv4/ip_forward` and `net.ipv4.ip_forward` name the same key; a `/` in dotted form stands for a `.` in a name. */
export function dottedKey(key: string): string {
  const firstSeparator = key.search(/[./]/);
  if (firstSeparator === -1 || key[firstSeparator] === '.') return key;
  return key
    .split('/')
    .map((part) => part.replace(/\./g, '/'))
    .join('.');
}

/** The /proc/sys file of a key: dots become directories, a `/` inside a dotted part is a literal dot. */
export function procSysPath(key: string): string {
  return `/proc/sys/${dottedKey(key)
    .split('.')
    .map((part) => part.replace(/\//g, '.'))
    .join('/')}`;
}

function parseFile(file: string, text: string): SysctlAssignment[] {
  const out: SysctlAssignment[] = [];
  for (const [index, raw] of splitLines(text).entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const eq = line.indexOf('=');
    if (eq === -1) continue;
    // A leading "-" only tells sysctl to ignore a failure to apply the line.
    const key = line.slice(0, eq).trim().replace(/^-/, '');
    out.push({ file, line: index + 1, key: dottedKey(key), value: line.slice(eq + 1).trim(), text: line });
  }
  return out;
}

/**
 * The persisted settings in the order `sysctl --system` applies them: every
 * `*.conf` of the sysctl.d directories sorted by file name (a name in /etc
 * hides the same name further down the list), then /etc/sysctl.conf.
 */
export function persistedSysctl(ctx: RuleContext): Promise<PersistedSysctl> {
  return memoize(ctx, 'sysctl-persisted', async () => {
    const byName = new Map<string, string>();
    for (const dir of SYSCTL_DIRS) {
      for (const name of (await ctx.listDir(dir).catch(() => undefined)) ?? []) {
        if (name.endsWith('.conf') && !byName.has(name)) byName.set(name, posix.join(dir, name));
      }
    }
    const files = [...byName.keys()].sort().map((name) => byName.get(name) as string);
    files.push(SYSCTL_CONF);
    const result: PersistedSysctl = { assignments: [], errors: [] };
    for (const file of files) {
      const read = await readText(ctx, file);
      if (read.kind === 'text') result.assignments.push(...parseFile(file, read.text));
      else if (read.kind === 'error') result.errors.push(read.reason);
    }
    return result;
  });
}

function keyMatches(pattern: string, key: string): boolean {
  if (!pattern.includes('*')) return pattern === key;
  const source = pattern.split('*').map(escapeRegExp).join('[^.]*');
  return new RegExp(`^${source}$`).test(key);
}

/** The assignment that decides a key's persisted value: the last one that names it. */
export function persistedValue(persisted: PersistedSysctl, key: string): SysctlAssignment | undefined {
  const dotted = dottedKey(key);
  return persisted.assignments.findLast((a) => keyMatches(a.key, dotted));
}
