import { splitCommandLine } from '../command-line.js';
import type { ScaRule } from '../model.js';
import type { RegexDialect } from '../regex/compiled-regex.js';
import { substituteVariables } from '../variables.js';
import { parseContentPattern } from './parse-pattern.js';
import { RuleSyntaxError } from './rule-syntax-error.js';

export interface ScaParseOptions {
  dialect: RegexDialect;
  /** `$name` → value, substituted in the location (path list or command), as Wazuh does. */
  variables: ReadonlyMap<string, string>;
}

const ARROW = ' -> ';
const TYPES = { f: 'file', d: 'directory', p: 'process', c: 'command' } as const;
const TYPE_HINT = 'rules start with f:, d:, p:, c: or not';

function splitArrow(text: string): [string, string | undefined] {
  const at = text.indexOf(ARROW);
  return at === -1 ? [text, undefined] : [text.slice(0, at), text.slice(at + ARROW.length)];
}

function pathList(location: string, prefix: string): string[] {
  const paths = location.split(',').map((p) => p.trim()).filter((p) => p !== '');
  if (paths.length === 0) throw new RuleSyntaxError(`${prefix}: names no path`, `write ${prefix}/absolute/path`);
  for (const path of paths) {
    const undefinedVariable = /\$[A-Za-z_]\w*/.exec(path);
    if (undefinedVariable) throw new RuleSyntaxError(`undefined variable ${undefinedVariable[0]}`, 'define it under variables:');
    if (!path.startsWith('/')) throw new RuleSyntaxError(`${prefix} path "${path}" is not absolute`, 'paths start with /');
  }
  return paths;
}

/**
 * Parses one rule of the SCA rule language into its AST: `[not ]TYPE:LOCATION`
 * with `-> CONTENT` for files and commands and `-> NAME [-> CONTENT]` for
 * directories. Everything after the first ` -> ` of a file or command rule is
 * its content pattern, as in Wazuh.
 */
export function parseScaRule(raw: string, options: ScaParseOptions): ScaRule {
  const text = raw.trim();
  const not = /^not\s+/i.exec(text);
  const body = not ? text.slice(not[0].length) : text;
  const colon = body.indexOf(':');
  const written = colon === -1 ? body.slice(0, 12) : body.slice(0, colon + 1);
  const letter = colon === -1 ? undefined : body.slice(0, colon);
  if (letter === 'r') throw new RuleSyntaxError('registry rules (r:) exist only on Windows', 'remove the rule; this engine audits Linux hosts');
  if (letter?.startsWith('!')) throw new RuleSyntaxError(`"${written}": a leading "!" does not negate a rule`, `write "not ${letter.slice(1)}:…"`);
  if (letter === undefined || !Object.hasOwn(TYPES, letter)) throw new RuleSyntaxError(`unknown rule type "${written}"`, TYPE_HINT);
  const type = TYPES[letter as keyof typeof TYPES];
  const rest = body.slice(colon + 1);
  const base = { kind: 'sca' as const, text, negated: not !== null };
  const prefix = `${letter}:`;

  if (type === 'process') {
    if (rest.trim() === '') throw new RuleSyntaxError('p: names no process', 'write p:NAME or p:r:REGEX');
    return { ...base, type, location: rest, process: parseContentPattern(rest, options.dialect) };
  }
  const [location, after] = splitArrow(rest);
  if (location.trim() === '') throw new RuleSyntaxError(`${prefix} has nothing before "->"`, `write ${prefix}${type === 'command' ? 'COMMAND' : '/PATH'} -> PATTERN`);
  const resolved = substituteVariables(location, options.variables);
  if (type === 'command') {
    const command = resolved.trim();
    try {
      splitCommandLine(command);
    } catch (err) {
      throw new RuleSyntaxError((err as Error).message, 'close the quote');
    }
    return { ...base, type, location, command, ...(after === undefined ? {} : { content: parseContentPattern(after, options.dialect) }) };
  }
  const paths = pathList(resolved, prefix);
  if (type === 'file') return { ...base, type, location, paths, ...(after === undefined ? {} : { content: parseContentPattern(after, options.dialect) }) };
  if (after === undefined) return { ...base, type, location, paths };
  const [name, content] = splitArrow(after);
  return {
    ...base,
    type,
    location,
    paths,
    fileName: parseContentPattern(name, options.dialect),
    ...(content === undefined ? {} : { content: parseContentPattern(content, options.dialect) }),
  };
}

const LETTERS = { file: 'f', directory: 'd', process: 'p', command: 'c' } as const;

/** Writes a rule back from its AST: the inverse of parseScaRule for a trimmed rule. */
export function formatScaRule(rule: ScaRule): string {
  const parts = [`${rule.negated ? 'not ' : ''}${LETTERS[rule.type]}:${rule.location}`];
  if (rule.type === 'directory' && rule.fileName) parts.push(rule.fileName.text);
  if (rule.type !== 'process' && rule.content) parts.push(rule.content.text);
  return parts.join(ARROW);
}
