import type { ContentPattern, Minterm, NumericMinterm } from '../model.js';
import { firstCapture, toRegExp } from '../regex/compiled-regex.js';

function compare(m: NumericMinterm, captured: number): boolean {
  switch (m.operator) {
    case '<':
      return captured < m.value;
    case '<=':
      return captured <= m.value;
    case '==':
      return captured === m.value;
    case '!=':
      return captured !== m.value;
    case '>=':
      return captured >= m.value;
    case '>':
      return captured > m.value;
  }
}

/** The minterm's own test, before its `!`. */
function holds(m: Minterm, text: string): boolean {
  if (m.kind === 'literal') return m.ignoreCase ? text.toLowerCase() === m.value.toLowerCase() : text === m.value;
  if (m.kind === 'regex') return toRegExp(m.regex).test(text);
  const match = toRegExp(m.regex).exec(text);
  if (match === null) return false;
  // strtol(3): leading blanks and digits; no number at all is no match.
  const captured = parseInt(firstCapture(match) ?? '', 10);
  return !Number.isNaN(captured) && compare(m, captured);
}

/** Whether one text (a line, a file name, a process) satisfies every minterm. */
export function matchItem(pattern: ContentPattern, text: string): boolean {
  return pattern.minterms.every((m) => holds(m, text) !== m.negated);
}

export interface ContentMatch {
  matched: boolean;
  /** The line that decided: the matching one, or for a lone `!` pattern the offending one. */
  line?: number;
  /** For a failed pattern, the first line its positive regexes found, to show what the value was. */
  nearMiss?: number;
}

/**
 * Matches a pattern against the lines of a file or of command output: true
 * when one line satisfies every minterm. A pattern that is one negated minterm
 * (`!r:X`) means that no line matches X, as Wazuh 5 reads it (Wazuh 4 read it
 * per line, true for any file with one line that lacks X).
 */
export function matchContent(pattern: ContentPattern, lines: readonly string[]): ContentMatch {
  const [only] = pattern.minterms;
  if (pattern.minterms.length === 1 && only?.negated) {
    const offending = lines.findIndex((line) => holds(only, line));
    return offending === -1 ? { matched: true } : { matched: false, line: offending };
  }
  const line = lines.findIndex((text) => matchItem(pattern, text));
  if (line !== -1) return { matched: true, line };
  const positive = pattern.minterms.filter((m) => !m.negated && m.kind !== 'literal');
  const nearMiss = lines.findIndex((text) => positive.some((m) => m.kind !== 'literal' && toRegExp(m.regex).test(text)));
  return nearMiss === -1 ? { matched: false } : { matched: false, nearMiss };
}

/** `matched`'s evidence in words, for a source such as `/etc/login.defs` or `` `sshd -T` ``. */
export function describeMatch(pattern: ContentPattern, match: ContentMatch, lines: readonly string[], source: string, numbered: boolean): string {
  const at = (index: number): string => `${source}${numbered ? `:${index + 1}` : ''}: ${(lines[index] ?? '').trim()}`;
  if (match.line !== undefined) return at(match.line);
  const [only] = pattern.minterms;
  const lone = pattern.minterms.length === 1 && only?.negated;
  const wanted = lone ? (only as Minterm).text.slice(1) : pattern.text;
  const near = match.nearMiss === undefined ? '' : ` (${numbered ? `line ${match.nearMiss + 1}` : 'closest'}: ${(lines[match.nearMiss] ?? '').trim()})`;
  return `no line of ${source} matches ${wanted}${near}`;
}
