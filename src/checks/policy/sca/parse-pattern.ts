import type { CompareOperator, ContentPattern, Minterm } from '../model.js';
import { type CompiledRegex, type RegexDialect, RegexSyntaxError, captureGroupCount } from '../regex/compiled-regex.js';
import { translateOsRegex } from '../regex/osregex.js';
import { translatePcre2 } from '../regex/pcre2.js';
import { RuleSyntaxError } from './rule-syntax-error.js';

/** Quotes a pattern as written: JSON quoting would double every backslash of a regex. */
const quote = (text: string): string => `"${text}"`;

const COMPARISON = /^(<=|>=|==|!=|<|>|=)\s*(-?\d+)\s*$/;

export function compileRegex(text: string, dialect: RegexDialect): CompiledRegex {
  try {
    return dialect === 'osregex' ? translateOsRegex(text) : translatePcre2(text);
  } catch (err) {
    if (err instanceof RegexSyntaxError) {
      throw new RuleSyntaxError(`bad ${dialect} regex ${quote(text)}: ${err.message}`, dialect === 'osregex' ? 'see the OS_Regex syntax, or set regex_type: pcre2' : 'fix the regular expression');
    }
    throw err;
  }
}

function parseMinterm(text: string, dialect: RegexDialect): Minterm {
  const negated = text.startsWith('!');
  const body = negated ? text.slice(1) : text;
  const prefix = body.slice(0, 2).toLowerCase();
  if (prefix === 'r:') return { kind: 'regex', negated, text, regex: compileRegex(body.slice(2), dialect) };
  if (prefix === 'n:') {
    const at = body.indexOf(' compare ');
    if (at === -1) throw new RuleSyntaxError(`numeric pattern ${quote(text)} has no comparison`, 'write n:REGEX compare <OPERATOR> <NUMBER>, e.g. n:^\\s*MaxAuthTries\\s+(\\d+) compare <= 4');
    const comparison = COMPARISON.exec(body.slice(at + ' compare '.length));
    if (!comparison) {
      throw new RuleSyntaxError(`numeric pattern ${quote(text)}: bad comparison ${quote(body.slice(at + 9))}`, 'the operator is one of <, <=, ==, !=, >=, > and the value an integer');
    }
    const regex = compileRegex(body.slice(2, at), dialect);
    if (captureGroupCount(regex) === 0) {
      throw new RuleSyntaxError(`numeric pattern ${quote(text)} captures no number`, 'put the number in parentheses, e.g. (\\d+)');
    }
    const op = comparison[1] as string;
    return { kind: 'numeric', negated, text, regex, operator: (op === '=' ? '==' : op) as CompareOperator, value: Number(comparison[2]) };
  }
  return { kind: 'literal', negated, text, value: body, ignoreCase: dialect === 'osregex' };
}

/** Parses the part after `->`: minterms joined by ` && `, each maybe negated with `!`. */
export function parseContentPattern(text: string, dialect: RegexDialect): ContentPattern {
  return { text, minterms: text.split(' && ').map((minterm) => parseMinterm(minterm, dialect)) };
}
