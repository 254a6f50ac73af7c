import { BulwarkError } from '../core/errors.js';

export const AUDIT_DECISIONS = ['allow', 'deny', 'none'] as const;
export const AUDIT_OUTCOMES = ['success', 'failure', 'error'] as const;
export type AuditDecision = (typeof AUDIT_DECISIONS)[number];
export type AuditOutcome = (typeof AUDIT_OUTCOMES)[number];

/** What a caller records: who did what to which resource, and how it ended. */
export interface AuditEntryInput {
  /** Milliseconds since the epoch. */
  time: number;
  /** `user:alice`, `token:ci`, `node:db-1`, `anonymous`, … */
  actor: string;
  /** `nodes.delete`, `auth.login`, `exec.run`, … */
  action: string;
  resource: string;
  decision: AuditDecision;
  /** Where the request came from: an IP address, `agent:<node>`, `server`. */
  source: string;
  requestId: string;
  outcome: AuditOutcome;
  /** Plain JSON only; pass it through {@link redactDetails} first. */
  details: Record<string, unknown>;
}

/** An entry as stored: its place in the chain and the hashes that bind it there. */
export type AuditEntry = AuditEntryInput & { seq: number; prevHash: string; hash: string };

export const REDACTED = '[redacted]';

// Words that name a secret. Keys are split into words (camelCase, snake_case,
// kebab-case) so `apiToken` and `db_password` match but `tokenize` does not.
const SECRET_WORDS = new Set([
  'password',
  'passwd',
  'passphrase',
  'pass',
  'pwd',
  'secret',
  'secrets',
  'token',
  'tokens',
  'key',
  'keys',
  'apikey',
  'privatekey',
  'totp',
  'otp',
  'code',
  'authorization',
  'bearer',
  'cookie',
  'cookies',
  'credential',
  'credentials',
  'seed',
  'mnemonic',
  'plaintext',
]);

// Trailing words that turn a secret word into a harmless reference to one:
// `tokenId`, `keyName`, `secretVersion`, `sessionCount` say which, not what.
const REFERENCE_SUFFIXES = new Set(['id', 'ids', 'name', 'names', 'prefix', 'fingerprint', 'count', 'version', 'versions', 'kind', 'type', 'algorithm', 'at', 'expires', 'ttl', 'path', 'role', 'label', 'labels']);
// Leading words that make a matching key public: `publicKey`, `exitCode`, `statusCode`.
const PUBLIC_PREFIXES = new Set(['public', 'exit', 'status', 'error', 'http', 'country', 'zip', 'postal']);

// A lone UTF-16 surrogate has no UTF-8 form, so RFC 8785 cannot canonicalise it.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** True when `text` has no lone surrogate (`String#isWellFormed`, which ES2023 typings lack). */
export function isWellFormedText(text: string): boolean {
  return !LONE_SURROGATE.test(text);
}

function words(key: string): string[] {
  return key
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w !== '');
}

/** True when a details key looks like it holds a secret (`password`, `apiToken`, `totp_code`, `Authorization`). */
export function isSecretKey(key: string): boolean {
  const parts = words(key);
  if (parts.length === 0) return false;
  if (!parts.some((w) => SECRET_WORDS.has(w))) return false;
  const last = parts.at(-1) ?? '';
  if (parts.length > 1 && REFERENCE_SUFFIXES.has(last)) return false;
  if (parts.length > 1 && PUBLIC_PREFIXES.has(parts[0] ?? '')) return false;
  return true;
}

// Values that are secrets whatever key they sit under: bearer credentials,
// PEM private keys, and Bulwark's own tokens (`<prefix>_<id>_<43-char secret>`,
// see core/secret-token.ts) anywhere in the text.
const SECRET_VALUE = [/^\s*(bearer|basic)\s+\S/i, /-----BEGIN [A-Z ]*PRIVATE KEY-----/, /(?:^|[^A-Za-z0-9_-])[a-z][a-z0-9]*_[a-z2-7]+_[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])/];

// The token pattern above, to cut tokens out of free text such as a request path.
const TOKEN_IN_TEXT = /(?<![A-Za-z0-9_-])[a-z][a-z0-9]*_[a-z2-7]+_[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])/g;

/**
 * `text` with every Bulwark token in it replaced by `"[redacted]"`: for fields
 * that must keep their shape, like the resource path, where a token pasted in
 * place of an id would otherwise be recorded.
 *
 * @example redactTokensInText('/v1/api-tokens/bwt_abc_…') // → '/v1/api-tokens/[redacted]'
 */
export function redactTokensInText(text: string): string {
  return text.replace(TOKEN_IN_TEXT, REDACTED);
}

/** True when a string value looks like a credential regardless of its key. */
export function isSecretValue(value: string): boolean {
  return SECRET_VALUE.some((re) => re.test(value));
}

function clean(value: unknown, path: string, depth: number): unknown {
  if (depth > 32) throw new BulwarkError('INTERNAL', `audit details nest deeper than 32 levels at ${path}`);
  if (value === null || typeof value === 'boolean') return value;
  if (typeof value === 'string') {
    if (!isWellFormedText(value)) throw new BulwarkError('INTERNAL', `audit detail ${path} is not well-formed Unicode`);
    return isSecretValue(value) ? REDACTED : value;
  }
  if (typeof value === 'number') {
    // RFC 8785 has no form for NaN or ±Infinity; JSON.stringify would silently write null.
    if (!Number.isFinite(value)) throw new BulwarkError('INTERNAL', `audit detail ${path} is not a finite number`);
    return Object.is(value, -0) ? 0 : value;
  }
  if (Array.isArray(value)) return value.map((v, i) => clean(v, `${path}[${i}]`, depth + 1));
  if (typeof value === 'object') {
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto !== Object.prototype && proto !== null) {
      throw new BulwarkError('INTERNAL', `audit detail ${path} is a ${(value as object).constructor?.name ?? 'non-plain object'}, not plain JSON`);
    }
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (v === undefined) continue;
      if (!isWellFormedText(k)) throw new BulwarkError('INTERNAL', `an audit detail key under ${path} is not well-formed Unicode`);
      // defineProperty, not assignment: a `__proto__` key from JSON.parse must stay a plain key.
      Object.defineProperty(out, k, { value: isSecretKey(k) ? REDACTED : clean(v, `${path}.${k}`, depth + 1), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  // undefined, functions, symbols, bigints: nothing JSON can hold unchanged.
  throw new BulwarkError('INTERNAL', `audit detail ${path} is a ${typeof value}, not plain JSON`);
}

/**
 * Returns a deep copy of `details` that is plain JSON and holds no secrets: the
 * value under any key that looks secret (see {@link isSecretKey}) and any string
 * that looks like a credential become `"[redacted]"`, at any depth. Throws
 * INTERNAL for what the chain could not hash stably (NaN, Infinity, bigint,
 * Dates and other class instances, lone surrogates), since those are bugs in
 * the caller, not input from a user.
 *
 * @example
 * redactDetails({ user: 'alice', password: 'hunter2' }) // → { user: 'alice', password: '[redacted]' }
 */
export function redactDetails(details: Record<string, unknown>): Record<string, unknown> {
  return clean(details, 'details', 0) as Record<string, unknown>;
}
