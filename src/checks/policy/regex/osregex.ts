import { type CompiledRegex, RegexSyntaxError, checkCompiles, escapeRegExp } from './compiled-regex.js';

/**
 * OS_Regex, the Wazuh 4 default dialect (ossec `os_regex`), as a JavaScript
 * RegExp with the same meaning:
 *
 * - classes `\d` `\w` (letters, digits, `-`, `@`, `_`) `\s` (a space only) `\t`
 *   `\p` (punctuation) `\W` `\D` `\S` and `\.` (any character);
 * - `+` and `*` repeat only the class just before them: after anything else they
 *   are ordinary characters, and so is `.`;
 * - `|` separates alternatives; `^` anchors only at the start of an alternative
 *   and `$` only at its end, elsewhere both are ordinary characters;
 * - `(` `)` capture (one level, no `|` inside); `\(` `\)` `\\` `\$` `\|` `\<`
 *   are the escaped characters; any other escape is an error, as in Wazuh;
 * - matching ignores case (SCA compiles without OS_CASE_SENSITIVE).
 */
const CLASSES: Record<string, string> = {
  d: '[0-9]',
  D: '[^0-9]',
  w: '[A-Za-z0-9@_\\-]',
  W: '[^A-Za-z0-9@_\\-]',
  s: ' ',
  S: '[^ ]',
  t: '\\t',
  p: `[!"#$%&'()*+,\\-.:;<=>?\\[\\]{|}]`,
  '.': '[\\s\\S]',
};

const ESCAPED_LITERALS = new Set(['(', ')', '\\', '$', '|', '<']);

interface Token {
  /** JavaScript source for this token. */
  js: string;
  /** A class that a following `+` or `*` repeats. */
  repeatable: boolean;
  /** The raw character, for an unescaped `^` or `$` that may be an anchor. */
  raw?: string;
}

function tokenize(pattern: string): Token[][] {
  const alternatives: Token[][] = [[]];
  let depth = 0;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    const current = alternatives[alternatives.length - 1] as Token[];
    if (c === '\\') {
      const next = pattern[i + 1];
      if (next === undefined) throw new RegexSyntaxError('the pattern ends with a lone backslash');
      i++;
      const cls = CLASSES[next];
      if (cls !== undefined) current.push({ js: cls, repeatable: true });
      else if (ESCAPED_LITERALS.has(next)) current.push({ js: escapeRegExp(next), repeatable: false });
      else throw new RegexSyntaxError(`OS_Regex has no escape \\${next} (it knows \\d \\w \\s \\t \\p \\W \\D \\S \\. and \\( \\) \\\\ \\$ \\| \\<)`);
      continue;
    }
    const previous = current[current.length - 1];
    if ((c === '+' || c === '*') && previous?.repeatable) {
      previous.js += c;
      previous.repeatable = false;
      continue;
    }
    if (c === '(') {
      if (depth > 0) throw new RegexSyntaxError('OS_Regex allows only one level of parentheses');
      depth++;
      current.push({ js: '(', repeatable: false });
    } else if (c === ')') {
      if (depth === 0) throw new RegexSyntaxError('a ")" closes no "("');
      depth--;
      current.push({ js: ')', repeatable: false });
    } else if (c === '|') {
      if (depth > 0) throw new RegexSyntaxError('OS_Regex allows no "|" inside parentheses');
      alternatives.push([]);
    } else {
      current.push({ js: escapeRegExp(c), repeatable: false, raw: c });
    }
  }
  if (depth > 0) throw new RegexSyntaxError('a "(" is never closed');
  return alternatives;
}

function alternativeSource(tokens: Token[]): string {
  const first = tokens[0];
  const last = tokens[tokens.length - 1];
  const begin = first?.raw === '^';
  const end = last?.raw === '$' && !(begin && tokens.length === 1);
  const body = tokens.slice(begin ? 1 : 0, end ? -1 : undefined).map((t) => t.js).join('');
  return `${begin ? '^' : ''}${body}${end ? '$' : ''}`;
}

export function translateOsRegex(pattern: string): CompiledRegex {
  const alternatives = tokenize(pattern).map(alternativeSource);
  const source = alternatives.length === 1 ? (alternatives[0] as string) : alternatives.map((a) => `(?:${a})`).join('|');
  return checkCompiles(pattern, source, 'i');
}
