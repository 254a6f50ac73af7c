import { BulwarkError } from '../core/errors.js';
import { SECRET_LIMITS } from '../protocol/secrets.js';

/** Largest secret value, in bytes. */
export const MAX_SECRET_VALUE_BYTES = SECRET_LIMITS.maxValueBytes;

/** Base64 characters of the largest value (with padding). */
export const MAX_SECRET_VALUE_BASE64 = Math.ceil(MAX_SECRET_VALUE_BYTES / 3) * 4;

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Checks a value's size. Messages give sizes only: a value never appears in an
 * error, since errors reach terminals, logs and the audit trail.
 */
export function checkSecretValue(value: Uint8Array): void {
  if (value.length === 0) throw new BulwarkError('BAD_REQUEST', 'the secret value is empty; an empty secret is almost always a mistake (an empty file or pipe)');
  if (value.length > MAX_SECRET_VALUE_BYTES) {
    throw new BulwarkError('PAYLOAD_TOO_LARGE', `the secret value is ${value.length} bytes; at most ${MAX_SECRET_VALUE_BYTES} (64 KiB) are accepted`);
  }
}

/**
 * Decodes a value sent as standard base64 (with padding). Node's own decoder
 * skips characters it does not know, so a mangled value would be stored
 * silently changed; this one refuses it instead.
 */
export function decodeSecretValue(base64: string): Buffer {
  if (base64.length > MAX_SECRET_VALUE_BASE64 + 4) {
    throw new BulwarkError('PAYLOAD_TOO_LARGE', `the secret value is larger than ${MAX_SECRET_VALUE_BYTES} bytes (64 KiB), the most accepted`);
  }
  if (!BASE64.test(base64)) throw new BulwarkError('BAD_REQUEST', 'the secret value is not standard base64 (A–Z, a–z, 0–9, "+", "/", "=" padding)');
  const value = Buffer.from(base64, 'base64');
  checkSecretValue(value);
  return value;
}

export function encodeSecretValue(value: Uint8Array): string {
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64');
}
