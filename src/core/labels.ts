import { BulwarkError } from './errors.js';

export type Labels = Record<string, string>;

// Kubernetes' rules: an optional DNS-subdomain prefix and a name of at most 63
// characters; values at most 63 characters of the same alphabet, possibly empty.
const NAME = /^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$/;
const PREFIX = /^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/;
const VALUE = /^([A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?)?$/;

export function isValidLabelKey(key: string): boolean {
  const slash = key.indexOf('/');
  if (slash === -1) return NAME.test(key);
  return PREFIX.test(key.slice(0, slash)) && NAME.test(key.slice(slash + 1));
}

export function isValidLabelValue(value: string): boolean {
  return VALUE.test(value);
}

/** Parses `key=value` pairs as given on a command line (`--label env=prod`). */
export function parseLabels(pairs: readonly string[]): Labels {
  const labels: Labels = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new BulwarkError('INVALID_LABEL', `label "${pair}" is not of the form key=value`);
    const key = pair.slice(0, eq);
    const value = pair.slice(eq + 1);
    assertLabel(key, value);
    labels[key] = value;
  }
  return labels;
}

export function assertLabels(labels: Labels): void {
  for (const [key, value] of Object.entries(labels)) assertLabel(key, value);
}

function assertLabel(key: string, value: string): void {
  if (!isValidLabelKey(key)) {
    throw new BulwarkError('INVALID_LABEL', `label key "${key}" is invalid: use letters, digits, "-", "_", "." and an optional "prefix/"`);
  }
  if (!isValidLabelValue(value)) {
    throw new BulwarkError('INVALID_LABEL', `label value "${value}" for "${key}" is invalid: at most 63 letters, digits, "-", "_" or "."`);
  }
}

export type Requirement =
  | { key: string; op: 'in' | 'notin'; values: string[] }
  | { key: string; op: 'exists' | 'notexists' };

/** A parsed selector: every requirement must hold (logical AND), as in Kubernetes. */
export interface Selector {
  readonly requirements: readonly Requirement[];
  readonly source: string;
}

/**
 * Parses a Kubernetes-style label selector:
 * `env=prod`, `env==prod`, `env!=prod`, `tier in (web, db)`, `tier notin (cache)`,
 * `gpu` (exists), `!gpu` (does not exist), joined by commas.
 *
 * @example parseSelector('env=prod,tier in (web,db),!legacy')
 */
export function parseSelector(source: string): Selector {
  const requirements: Requirement[] = [];
  const text = source.trim();
  if (text === '') return { requirements, source: '' };
  let pos = 0;
  // Positions are reported in `source` as given (1-based), not in the trimmed text.
  const lead = source.length - source.trimStart().length;
  const fail = (why: string, at = pos): never => {
    throw new BulwarkError('INVALID_SELECTOR', `selector "${source}" is invalid at position ${lead + at + 1}: ${why}`);
  };
  // Any white space, as Kubernetes' lexer, the trim above and the "in (" test below all do.
  const skipSpace = (): void => {
    while (pos < text.length && /\s/.test(text[pos] ?? '')) pos++;
  };
  const readWord = (): string => {
    skipSpace();
    const start = pos;
    while (pos < text.length && /[A-Za-z0-9_./-]/.test(text[pos] ?? '')) pos++;
    return text.slice(start, pos);
  };
  const readKey = (): string => {
    const key = readWord();
    if (key === '') fail('expected a label key');
    if (!isValidLabelKey(key)) fail(`"${key}" is not a valid label key`, pos - key.length);
    return key;
  };
  const readValue = (): string => {
    const value = readWord();
    if (!isValidLabelValue(value)) fail(`"${value}" is not a valid label value`, pos - value.length);
    return value;
  };
  for (;;) {
    skipSpace();
    if (text[pos] === '!') {
      pos++;
      requirements.push({ key: readKey(), op: 'notexists' });
    } else {
      const key = readKey();
      skipSpace();
      const rest = text.slice(pos);
      if (rest.startsWith('==')) {
        pos += 2;
        requirements.push({ key, op: 'in', values: [readValue()] });
      } else if (rest.startsWith('!=')) {
        pos += 2;
        requirements.push({ key, op: 'notin', values: [readValue()] });
      } else if (rest.startsWith('=')) {
        pos += 1;
        requirements.push({ key, op: 'in', values: [readValue()] });
      } else if (/^(in|notin)\s*\(/.test(rest)) {
        const op = rest.startsWith('notin') ? 'notin' : 'in';
        pos += op.length;
        skipSpace();
        pos++; // the "("
        const values: string[] = [];
        for (;;) {
          values.push(readValue());
          skipSpace();
          if (text[pos] === ',') {
            pos++;
            continue;
          }
          if (text[pos] === ')') {
            pos++;
            break;
          }
          fail('expected "," or ")" in a value list');
        }
        requirements.push({ key, op, values });
      } else if (rest === '' || rest.startsWith(',')) {
        requirements.push({ key, op: 'exists' });
      } else {
        fail('expected "=", "==", "!=", "in (…)", "notin (…)" or ","');
      }
    }
    skipSpace();
    if (pos >= text.length) break;
    if (text[pos] !== ',') fail('expected ","');
    pos++;
  }
  return { requirements, source: text };
}

export function matchesSelector(selector: Selector, labels: Labels): boolean {
  return selector.requirements.every((req) => {
    const has = Object.hasOwn(labels, req.key);
    switch (req.op) {
      case 'exists':
        return has;
      case 'notexists':
        return !has;
      case 'in':
        return has && req.values.includes(labels[req.key] ?? '');
      case 'notin':
        return !has || !req.values.includes(labels[req.key] ?? '');
    }
  });
}
