import { type CompiledRegex, RegexSyntaxError, checkCompiles, escapeRegExp } from './compiled-regex.js';

/**
 * PCRE2 as a JavaScript RegExp. The two agree on everything policies use
 * (classes, groups, lookarounds, lazy quantifiers, `\b`); what JavaScript lacks
 * is rewritten: `\h` `\H` (horizontal space), `\A` `\z` `\Z`, `\Q…\E`, `\e`,
 * `\x{…}`, POSIX classes such as `[[:digit:]]`, `(?P<name>…)`, a leading `(?i)`,
 * and possessive quantifiers and atomic groups (taken as ordinary ones: on one
 * line of text they only change how fast a match fails, not whether it is found).
 * Matching is case-sensitive, as PCRE2 compiles in Wazuh. Unknown escapes
 * (`\y`) stay identity escapes, as in PCRE2's non-strict mode.
 */
const POSIX_CLASSES: Record<string, string> = {
  alnum: 'A-Za-z0-9',
  alpha: 'A-Za-z',
  blank: ' \\t',
  cntrl: '\\x00-\\x1f\\x7f',
  digit: '0-9',
  graph: '\\x21-\\x7e',
  lower: 'a-z',
  print: '\\x20-\\x7e',
  punct: '!-\\/:-@\\[-`{-~',
  space: '\\s',
  upper: 'A-Z',
  word: '\\w',
  xdigit: '0-9A-Fa-f',
};

const HORIZONTAL_SPACE = ' \\t\\u00a0';

function hexEscape(hex: string): string {
  const code = parseInt(hex, 16);
  if (!Number.isInteger(code) || code > 0xffff) throw new RegexSyntaxError(`\\x{${hex}} is outside the range this engine supports`);
  return `\\u${code.toString(16).padStart(4, '0')}`;
}

/** Translates one escape at `i` (the backslash); returns the JavaScript text and how many characters it used. */
function translateEscape(pattern: string, i: number, inClass: boolean): { js: string; used: number } {
  const next = pattern[i + 1];
  if (next === undefined) throw new RegexSyntaxError('the pattern ends with a lone backslash');
  switch (next) {
    case 'h':
      return { js: inClass ? HORIZONTAL_SPACE : `[${HORIZONTAL_SPACE}]`, used: 2 };
    case 'H':
      if (inClass) throw new RegexSyntaxError('\\H inside a character class is not supported');
      return { js: `[^${HORIZONTAL_SPACE}]`, used: 2 };
    case 'A':
      return { js: '^', used: 2 };
    case 'z':
    case 'Z':
      return { js: '$', used: 2 };
    case 'e':
      return { js: '\\x1b', used: 2 };
    case 'x': {
      const braced = /^\{([0-9A-Fa-f]{1,6})\}/.exec(pattern.slice(i + 2));
      if (braced) return { js: hexEscape(braced[1] as string), used: 2 + braced[0].length };
      return { js: '\\x', used: 2 };
    }
    case 'Q': {
      const end = pattern.indexOf('\\E', i + 2);
      const literal = pattern.slice(i + 2, end === -1 ? undefined : end);
      return { js: escapeRegExp(literal), used: 2 + literal.length + (end === -1 ? 0 : 2) };
    }
    case 'E':
      return { js: '', used: 2 };
    default:
      return { js: `\\${next}`, used: 2 };
  }
}

/** Translates a bracket expression starting at `i` (the `[`); returns the JavaScript text and its length. */
function translateClass(pattern: string, i: number): { js: string; used: number } {
  let j = i + 1;
  let js = '[';
  if (pattern[j] === '^') {
    js += '^';
    j++;
  }
  // A `]` right after `[` or `[^` is an ordinary member in PCRE2.
  if (pattern[j] === ']') {
    js += '\\]';
    j++;
  }
  while (j < pattern.length) {
    const c = pattern[j] as string;
    if (c === ']') return { js: `${js}]`, used: j - i + 1 };
    if (c === '\\') {
      const { js: escaped, used } = translateEscape(pattern, j, true);
      js += escaped;
      j += used;
      continue;
    }
    const posix = /^\[:(\^?)([a-z]+):\]/.exec(pattern.slice(j));
    if (posix) {
      const members = POSIX_CLASSES[posix[2] as string];
      if (members === undefined) throw new RegexSyntaxError(`unknown POSIX class [:${posix[2]}:]`);
      if (posix[1] === '^') throw new RegexSyntaxError(`negated POSIX class [:^${posix[2]}:] is not supported`);
      js += members;
      j += posix[0].length;
      continue;
    }
    js += c === '[' ? '\\[' : c;
    j++;
  }
  throw new RegexSyntaxError('a "[" is never closed');
}

export function translatePcre2(pattern: string): CompiledRegex {
  let flags = '';
  let rest = pattern;
  const leading = /^\(\?([imsx]+)\)/.exec(rest);
  if (leading) {
    const options = leading[1] as string;
    if (options.includes('x')) throw new RegexSyntaxError('the (?x) option is not supported');
    flags = [...new Set(options)].join('');
    rest = rest.slice(leading[0].length);
  }
  let js = '';
  // Set right after a quantifier, so a `+` there is PCRE2's possessive mark.
  let afterQuantifier = false;
  for (let i = 0; i < rest.length; ) {
    const c = rest[i] as string;
    const quantifierBefore = afterQuantifier;
    afterQuantifier = false;
    if (c === '\\') {
      const { js: escaped, used } = translateEscape(rest, i, false);
      js += escaped;
      i += used;
    } else if (c === '[') {
      const { js: cls, used } = translateClass(rest, i);
      js += cls;
      i += used;
    } else if (rest.startsWith('(?P<', i)) {
      js += '(?<';
      i += 4;
    } else if (rest.startsWith('(?P=', i)) {
      const end = rest.indexOf(')', i);
      if (end === -1) throw new RegexSyntaxError('a "(?P=" back reference is never closed');
      js += `\\k<${rest.slice(i + 4, end)}>`;
      i = end + 1;
    } else if (rest.startsWith('(?>', i)) {
      js += '(?:';
      i += 3;
    } else if (/^\(\?[imsx-]+[:)]/.test(rest.slice(i))) {
      throw new RegexSyntaxError('inline options such as (?i) are supported only at the very start of the pattern');
    } else if (c === '+' && quantifierBefore) {
      i++;
    } else {
      afterQuantifier = '*+?}'.includes(c);
      js += c;
      i++;
    }
  }
  return checkCompiles(pattern, js, flags);
}
