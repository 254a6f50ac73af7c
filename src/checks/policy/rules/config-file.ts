import { posix } from 'node:path';
import { expandGlob } from './expand-glob.js';
import { type ReadResult, readText, splitLines } from './read-text.js';
import type { RuleContext } from './types.js';

/** One `Keyword value` line of a keyword-value configuration file. */
export interface ConfigEntry {
  file: string;
  line: number;
  key: string;
  value: string;
  /** The line as written, trimmed, for evidence. */
  text: string;
}

export type ConfigRead = { kind: 'entries'; entries: ConfigEntry[] } | Exclude<ReadResult, { kind: 'text' }>;

// sshd refuses deeper nesting too; it also keeps an include loop finite.
const MAX_INCLUDE_DEPTH = 16;
const KEY_VALUE = /^([^\s=]+)(?:\s*=\s*|\s+)(.*)$/;

function unquote(value: string): string {
  return value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value;
}

/**
 * The global section of a keyword-value file (sshd_config, login.defs, …):
 * `#` comments, key and value separated by blanks or `=`. A `Match` line ends
 * the global section of its file. With `include`, `Include` lines are followed
 * where they stand (globs sorted; relative paths from the including file's
 * directory), as sshd reads /etc/ssh/sshd_config.d/*.conf.
 */
export async function readConfigEntries(ctx: RuleContext, path: string, include: boolean, depth = 0): Promise<ConfigRead> {
  const read = await readText(ctx, path);
  if (read.kind !== 'text') return read;
  const entries: ConfigEntry[] = [];
  for (const [index, raw] of splitLines(read.text).entries()) {
    const text = raw.replace(/(^|\s)#.*$/, '').trim();
    if (text === '') continue;
    const parsed = KEY_VALUE.exec(text);
    const key = parsed ? (parsed[1] as string) : text;
    const value = parsed ? unquote((parsed[2] as string).trim()) : '';
    if (key.toLowerCase() === 'match') break;
    if (include && key.toLowerCase() === 'include') {
      if (depth >= MAX_INCLUDE_DEPTH) return { kind: 'error', reason: `${path}:${index + 1}: Include nested more than ${MAX_INCLUDE_DEPTH} deep` };
      for (const target of value.split(/\s+/).filter((t) => t !== '')) {
        for (const file of await expandGlob(ctx, posix.resolve(posix.dirname(path), target))) {
          const included = await readConfigEntries(ctx, file, include, depth + 1);
          if (included.kind === 'error') return included;
          if (included.kind === 'entries') entries.push(...included.entries);
        }
      }
      continue;
    }
    entries.push({ file: path, line: index + 1, key, value, text: raw.trim() });
  }
  return { kind: 'entries', entries };
}
