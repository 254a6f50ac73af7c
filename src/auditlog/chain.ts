import { createHash } from 'node:crypto';
import { canonicalJson } from '../core/canonical-json.js';
import { BulwarkError } from '../core/errors.js';
import { isWellFormedText, type AuditEntry, type AuditEntryInput } from './entry.js';

/** The `prevHash` of the first entry: there is nothing before it. */
export const GENESIS_HASH = '0'.repeat(64);

const HEX_HASH = /^[0-9a-f]{64}$/;

/** True for a lower-case hex SHA-256 digest, the only form the chain writes. */
export function isHexHash(value: unknown): value is string {
  return typeof value === 'string' && HEX_HASH.test(value);
}

/** The hashed part of an entry: everything but the two hashes. */
export type AuditEntryBody = AuditEntryInput & { seq: number };

/** The body with exactly the hashed fields, so extra properties on a record never change its hash. */
export function hashedFields(e: AuditEntryBody): AuditEntryBody {
  return {
    seq: e.seq,
    time: e.time,
    actor: e.actor,
    action: e.action,
    resource: e.resource,
    decision: e.decision,
    source: e.source,
    requestId: e.requestId,
    outcome: e.outcome,
    details: e.details,
  };
}

/**
 * Refuses what RFC 8785 cannot express or what core's `canonicalJson` would
 * write differently from it: non-finite numbers (JSON.stringify makes them
 * `null`), undefined, bigints, functions, class instances (a Date would become
 * `{}`) and lone surrogates. For strings, finite numbers, booleans, null, arrays
 * and plain objects, `canonicalJson` is RFC 8785: keys sorted by UTF-16 code
 * units, ECMAScript number forms, JSON.stringify's string escapes.
 */
function assertCanonicalisable(value: unknown, path: string): void {
  if (value === null || typeof value === 'boolean') return;
  if (typeof value === 'string') {
    if (!isWellFormedText(value)) throw new BulwarkError('INTERNAL', `${path} is not well-formed Unicode`);
    return;
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new BulwarkError('INTERNAL', `${path} is not a finite number`);
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((v, i) => assertCanonicalisable(v, `${path}[${i}]`));
    return;
  }
  if (typeof value === 'object') {
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto !== Object.prototype && proto !== null) throw new BulwarkError('INTERNAL', `${path} is not a plain object`);
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (!isWellFormedText(k)) throw new BulwarkError('INTERNAL', `a key under ${path} is not well-formed Unicode`);
      assertCanonicalisable(v, `${path}.${k}`);
    }
    return;
  }
  throw new BulwarkError('INTERNAL', `${path} is a ${typeof value}, which JSON cannot hold`);
}

/** RFC 8785 JSON of the hashed fields; throws INTERNAL for anything it cannot express. */
export function canonicalEntryJson(body: AuditEntryBody): string {
  if (!Number.isSafeInteger(body.seq) || body.seq < 1) throw new BulwarkError('INTERNAL', `audit seq ${body.seq} is not a positive integer`);
  if (!Number.isSafeInteger(body.time)) throw new BulwarkError('INTERNAL', `audit time ${body.time} is not an integer`);
  const fields = hashedFields(body);
  assertCanonicalisable(fields, 'entry');
  return canonicalJson(fields);
}

function digest(prevHash: string, json: string): string {
  if (!isHexHash(prevHash)) throw new BulwarkError('INTERNAL', 'an audit prevHash must be 64 lower-case hex digits');
  // The previous hash enters as its 32 raw bytes, then the UTF-8 of the JSON.
  return createHash('sha256').update(Buffer.from(prevHash, 'hex')).update(json, 'utf8').digest('hex');
}

/**
 * hex SHA-256(prevHash as 32 bytes ‖ RFC 8785 JSON of
 * {seq, time, actor, action, resource, decision, source, requestId, outcome, details}).
 * The seq is inside the hash, so an entry moved to another position no longer verifies.
 */
export function entryHash(prevHash: string, body: AuditEntryBody): string {
  return digest(prevHash, canonicalEntryJson(body));
}

/**
 * The hash `body` would have at any seq, cheaply: the canonical JSON is built
 * once and only the seq digits change. The verifier uses it to find where a
 * misplaced entry was written. The top-level `"seq":` is the last occurrence in
 * the text: only `source` (a string, whose quotes are escaped) and `time` follow.
 */
export function hashAtSeq(prevHash: string, body: AuditEntryBody): (seq: number) => string {
  const json = canonicalEntryJson({ ...body, seq: 1 });
  const at = json.lastIndexOf('"seq":1');
  const before = json.slice(0, at + '"seq":'.length);
  const after = json.slice(at + '"seq":1'.length);
  return (seq) => digest(prevHash, `${before}${seq}${after}`);
}

/**
 * The entry that follows `prev` (the last entry, or undefined for an empty log).
 *
 * @example
 * const first = chainNext(undefined, input);      // seq 1, prevHash GENESIS_HASH
 * const second = chainNext(first, nextInput);     // seq 2, prevHash first.hash
 */
export function chainNext(prev: { seq: number; hash: string } | undefined, input: AuditEntryInput): AuditEntry {
  const seq = (prev?.seq ?? 0) + 1;
  const prevHash = prev?.hash ?? GENESIS_HASH;
  const body: AuditEntryBody = { ...hashedFields({ ...input, seq }) };
  return { ...body, prevHash, hash: entryHash(prevHash, body) };
}
