/**
 * Turns a path glob into an anchored regular expression: `*` and `?` stay inside
 * one path segment, `**` crosses segments. Every other character is literal, so
 * an allow-list entry such as `/usr/lib/dbus-1.0/dbus-daemon-launch-helper`
 * matches only itself.
 *
 * @example globToRegExp('/usr/bin/ssh-*').test('/usr/bin/ssh-agent') // true
 */
export function globToRegExp(glob: string): RegExp {
  let source = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === '*' && glob[i + 1] === '*') {
      source += '.*';
      i++;
    } else if (c === '*') source += '[^/]*';
    else if (c === '?') source += '[^/]';
    else source += c.replace(/[\\^$.|+()[\]{}]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

/** Whether a host path is named by any entry of an allow-list of paths and globs. */
export function matchesAnyGlob(path: string, globs: readonly RegExp[]): boolean {
  return globs.some((glob) => glob.test(path));
}
