import type { NodeFacts } from '../protocol/facts.js';
import { readFirstHostFile } from './host-file.js';

export type OsFacts = NodeFacts['os'];

const KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
// Inside double quotes the shell (and so os-release(5)) gives a backslash meaning
// only before these characters; before anything else it stays literal.
const DOUBLE_QUOTE_ESCAPABLE = new Set(['"', '\\', '$', '`']);

/**
 * Parses os-release(5): shell-style `KEY=value` assignments, values optionally in
 * single or double quotes (which may be mixed and may span lines, as systemd
 * accepts), backslash escapes, `#` comments, blank lines. Malformed lines are
 * skipped rather than failing the whole file, as systemd does.
 */
export function parseOsRelease(text: string): Record<string, string> {
  const src = text.replace(/\r\n/g, '\n');
  const out: Record<string, string> = {};
  let pos = 0;
  const n = src.length;
  const skipLine = (): void => {
    while (pos < n && src[pos] !== '\n') pos++;
    pos++;
  };
  while (pos < n) {
    while (pos < n && /\s/.test(src[pos] ?? '')) pos++;
    if (pos >= n) break;
    if (src[pos] === '#' || src[pos] === ';') {
      skipLine();
      continue;
    }
    const lineEnd = src.indexOf('\n', pos);
    const eq = src.indexOf('=', pos);
    if (eq === -1 || (lineEnd !== -1 && eq > lineEnd)) {
      skipLine();
      continue;
    }
    const key = src.slice(pos, eq).trim();
    pos = eq + 1;
    while (pos < n && (src[pos] === ' ' || src[pos] === '\t')) pos++;
    // `kept` marks how much of `value` survives trailing-whitespace trimming:
    // quoted or escaped characters always do, bare blanks at the end do not.
    let value = '';
    let kept = 0;
    while (pos < n) {
      const c = src[pos] ?? '';
      if (c === '\n') {
        pos++;
        break;
      }
      if (c === "'") {
        const close = src.indexOf("'", pos + 1);
        const end = close === -1 ? n : close;
        value += src.slice(pos + 1, end);
        kept = value.length;
        pos = end + 1;
      } else if (c === '"') {
        pos++;
        while (pos < n && src[pos] !== '"') {
          const d = src[pos] ?? '';
          if (d === '\\' && pos + 1 < n) {
            const next = src[pos + 1] ?? '';
            if (DOUBLE_QUOTE_ESCAPABLE.has(next)) value += next;
            else if (next !== '\n') value += d + next;
            pos += 2;
          } else {
            value += d;
            pos++;
          }
        }
        pos++;
        kept = value.length;
      } else if (c === '\\') {
        const next = src[pos + 1];
        if (next !== undefined && next !== '\n') value += next;
        pos += 2;
        kept = value.length;
      } else {
        value += c;
        if (c !== ' ' && c !== '\t') kept = value.length;
        pos++;
      }
    }
    if (KEY.test(key)) out[key] = value.slice(0, kept);
  }
  return out;
}

export function osFactsFromRelease(fields: Record<string, string>): OsFacts {
  const os: OsFacts = {};
  if (fields.ID !== undefined) os.id = fields.ID;
  if (fields.NAME !== undefined) os.name = fields.NAME;
  if (fields.VERSION !== undefined) os.version = fields.VERSION;
  if (fields.VERSION_ID !== undefined) os.versionId = fields.VERSION_ID;
  if (fields.PRETTY_NAME !== undefined) os.prettyName = fields.PRETTY_NAME;
  if (fields.VERSION_CODENAME !== undefined) os.codename = fields.VERSION_CODENAME;
  return os;
}

/** /etc/os-release wins; /usr/lib/os-release is the vendor's copy that it usually links to. */
export async function collectOsRelease(root: string): Promise<OsFacts> {
  const text = await readFirstHostFile(root, ['/etc/os-release', '/usr/lib/os-release']);
  return text === undefined ? {} : osFactsFromRelease(parseOsRelease(text));
}
