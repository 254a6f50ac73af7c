import { BulwarkError } from '../core/errors.js';

/**
 * `--exclude` patterns, as users of restic and rsync write them:
 * `*` any run of characters within a name, `**` any run across `/`, `?` one
 * character, `[abc]` / `[!abc]` one of a set. A pattern without `/` matches
 * the name at any depth (`*.log`, `node_modules`); one with `/` matches the
 * whole absolute path (`/var/cache/**`). A matching directory is skipped with
 * everything below it.
 */
export type ExcludeMatcher = (absolutePath: string, name: string) => boolean;

function globToRegExp(glob: string): RegExp {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        out += '.*';
        i++;
        if (glob[i + 1] === '/') i++; // `**/` also matches no directory at all
      } else out += '[^/]*';
    } else if (c === '?') out += '[^/]';
    else if (c === '[') {
      const close = glob.indexOf(']', i + 2);
      if (close < 0) throw new BulwarkError('BAD_REQUEST', `the exclude pattern ${JSON.stringify(glob)} has a "[" without its "]"`);
      let set = glob.slice(i + 1, close);
      if (set.startsWith('!')) set = `^${set.slice(1)}`;
      out += `[${set.replace(/\\/g, '\\\\')}]`;
      i = close;
    } else out += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${out}$`, 'u');
}

export function compileExcludes(patterns: readonly string[]): ExcludeMatcher {
  const compiled = patterns.map((p) => {
    const pattern = p.trim();
    if (pattern.length === 0) throw new BulwarkError('BAD_REQUEST', 'an --exclude pattern is empty');
    const anchored = pattern.includes('/');
    const body = anchored && pattern.endsWith('/') ? pattern.slice(0, -1) : pattern;
    return { anchored, re: globToRegExp(body) };
  });
  return (absolutePath, name) => compiled.some((c) => (c.anchored ? c.re.test(absolutePath) : c.re.test(name)));
}
