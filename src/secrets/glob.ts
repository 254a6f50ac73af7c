import { MAX_SECRET_PATH_LENGTH } from './path.js';

/** Any depth: as a whole glob every path, as the final segment every path below the rest. */
export const DEEP = '**';

const GLOB_SEGMENT = /^[A-Za-z0-9._*-]+$/;

/**
 * Why `glob` is not a valid secret path glob, or undefined when it is one.
 * A glob is a secret path whose segments may hold `*` (any run of characters
 * within that one segment), and whose last segment may be `**` (any number of
 * further segments, at least one). `**` alone matches every path.
 *
 * @example secretGlobProblem('app/**\/db') // → '"**" may only be the last segment'
 */
export function secretGlobProblem(glob: string): string | undefined {
  if (glob === '') return 'is empty';
  if (glob.length > MAX_SECRET_PATH_LENGTH) return `is ${glob.length} characters long; at most ${MAX_SECRET_PATH_LENGTH} are allowed`;
  if (glob.startsWith('/')) return 'starts with "/"; secret paths have no leading slash';
  if (glob.endsWith('/')) return 'ends with "/"; write app/** for everything below app';
  const segments = glob.split('/');
  for (const [i, segment] of segments.entries()) {
    if (segment === '') return 'has an empty segment ("//")';
    if (segment === '.' || segment === '..') return 'has a "." or ".." segment';
    if (!GLOB_SEGMENT.test(segment)) return 'may only hold letters, digits, ".", "_", "-" and "*" between slashes';
    if (segment.includes(DEEP)) {
      if (segment !== DEEP) return '"**" must be a segment of its own (app/**), not part of one';
      if (i !== segments.length - 1) return '"**" may only be the last segment';
    }
  }
  return undefined;
}

/** A compiled glob: tests a (valid) secret path. */
export type SecretPathMatcher = (path: string) => boolean;

function segmentMatcher(segment: string): (s: string) => boolean {
  if (segment === '*') return () => true;
  if (!segment.includes('*')) return (s) => s === segment;
  // Only "." and "-" of the allowed characters mean something in a regular expression.
  const source = segment
    .split('*')
    .map((part) => part.replace(/[.-]/g, (c) => `\\${c}`))
    .join('[^/]*');
  const re = new RegExp(`^${source}$`);
  return (s) => re.test(s);
}

/**
 * Compiles a glob checked by {@link secretGlobProblem}; an invalid glob throws,
 * since a rule that silently matches nothing (or everything) is worse than an error.
 *
 * @example compileSecretGlob('app/*')('app/db') // → true
 */
export function compileSecretGlob(glob: string): SecretPathMatcher {
  const problem = secretGlobProblem(glob);
  if (problem !== undefined) throw new Error(`secret path glob ${JSON.stringify(glob)} ${problem}`);
  const segments = glob.split('/');
  const deep = segments.at(-1) === DEEP;
  const fixed = (deep ? segments.slice(0, -1) : segments).map(segmentMatcher);
  return (path) => {
    const parts = path.split('/');
    if (deep ? parts.length <= fixed.length : parts.length !== fixed.length) return false;
    return fixed.every((match, i) => match(parts[i] ?? ''));
  };
}

/** Whether `glob` matches every secret path (so a deny rule with it leaves no path out). */
export function matchesEveryPath(glob: string): boolean {
  return glob === DEEP;
}

/** One-off test of a path against a glob. */
export function matchesSecretGlob(glob: string, path: string): boolean {
  return compileSecretGlob(glob)(path);
}
