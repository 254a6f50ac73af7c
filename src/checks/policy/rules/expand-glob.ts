import { posix } from 'node:path';
import { escapeRegExp } from '../regex/compiled-regex.js';
import type { RuleContext } from './types.js';

const GLOB_CHARS = /[*?[]/;

export function hasGlob(path: string): boolean {
  return GLOB_CHARS.test(path);
}

/** One path segment's glob as a RegExp: `*` `?` `[abc]` `[!abc]`; a leading dot is matched only explicitly, as in a shell. */
function segmentRegExp(segment: string): RegExp {
  let source = '';
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i] as string;
    if (c === '*') source += '.*';
    else if (c === '?') source += '.';
    else if (c === '[') {
      const end = segment.indexOf(']', i + 2);
      if (end === -1) source += '\\[';
      else {
        const body = segment.slice(i + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\');
        source += `[${body}]`;
        i = end;
      }
    } else source += escapeRegExp(c);
  }
  return new RegExp(`^${segment.startsWith('.') ? '' : '(?!\\.)'}${source}$`, 's');
}

/**
 * The host paths a glob names, sorted, under the evaluation's root; a path
 * without glob characters is returned as it is, whether it exists or not.
 * Entries denied to audits are not matched by a wildcard.
 *
 * @example expandGlob(ctx, '/etc/ssh/sshd_config.d/*.conf') // ['/etc/ssh/sshd_config.d/10-x.conf']
 */
export async function expandGlob(ctx: RuleContext, pattern: string): Promise<string[]> {
  if (!hasGlob(pattern)) return [pattern];
  let bases = ['/'];
  for (const segment of pattern.split('/').filter((s) => s !== '')) {
    const next: string[] = [];
    for (const base of bases) {
      if (!hasGlob(segment)) {
        next.push(posix.join(base, segment));
        continue;
      }
      const regex = segmentRegExp(segment);
      const names = (await ctx.listDir(base)) ?? [];
      for (const name of names.filter((n) => regex.test(n))) {
        const path = posix.join(base, name);
        // A denied entry is left out, as if it were not there: a wildcard names nothing in particular.
        if (!(await ctx.isDenied(path))) next.push(path);
      }
    }
    bases = next;
  }
  const existing = await Promise.all(bases.map(async (path) => ((await ctx.lstat(path)) === undefined ? undefined : path)));
  return existing.filter((path): path is string => path !== undefined).sort();
}
