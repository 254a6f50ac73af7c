import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { BulwarkError } from '../core/errors.js';

export type TotpAlgorithm = 'SHA1' | 'SHA256' | 'SHA512';

export interface TotpOptions {
  algorithm?: TotpAlgorithm;
  digits?: 6 | 8;
  periodSeconds?: number;
}

export interface VerifyTotpOptions extends TotpOptions {
  /** Steps accepted either side of the current one, for clock skew. Default 1. */
  window?: number;
  /** The step of the last code accepted for this secret; it and earlier steps are refused. */
  lastUsedStep?: number | null;
}

export type TotpVerdict = { ok: true; step: number } | { ok: false; reason: 'malformed' | 'mismatch' | 'replayed' };

const HMAC_NAMES: Record<TotpAlgorithm, string> = { SHA1: 'sha1', SHA256: 'sha256', SHA512: 'sha512' };
// RFC 4226 §4 asks for at least 128 bits and recommends 160; RFC 6238's test seeds
// use the hash's output length, which is what authenticator apps expect.
const SECRET_BYTES: Record<TotpAlgorithm, number> = { SHA1: 20, SHA256: 32, SHA512: 64 };
const MAX_WINDOW = 10;

/** A fresh random TOTP secret: 20 bytes for SHA-1, 32 for SHA-256 (64 for SHA-512). */
export function generateTotpSecret(algorithm: TotpAlgorithm): Buffer {
  return randomBytes(SECRET_BYTES[algorithm]);
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 base32, upper case, without padding (as `otpauth://` URIs carry secrets). */
export function base32Encode(bytes: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of bytes) {
    value = ((value << 8) | byte) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31];
  return out;
}

/**
 * Decodes RFC 4648 base32 as people type it: any case, spaces (and trailing `=`
 * padding) ignored. Throws BAD_REQUEST on any other character.
 */
export function base32Decode(text: string): Buffer {
  const clean = text.replace(/\s+/g, '').replace(/=+$/, '').toUpperCase();
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const [i, ch] of [...clean].entries()) {
    const digit = ALPHABET.indexOf(ch);
    if (digit === -1) {
      throw new BulwarkError('BAD_REQUEST', `base32 text has an invalid character "${ch}" at position ${i + 1}: use A–Z and 2–7`);
    }
    value = ((value << 5) | digit) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/**
 * The RFC 4226 HOTP value of `counter`: HMAC of the 8-byte big-endian counter,
 * dynamic truncation, the last `digits` decimal digits.
 */
export function hotpCode(secret: Uint8Array, counter: number, opts: { algorithm?: TotpAlgorithm; digits?: 6 | 8 } = {}): string {
  const algorithm = opts.algorithm ?? 'SHA1';
  const digits = opts.digits ?? 6;
  if (!Number.isSafeInteger(counter) || counter < 0) {
    throw new BulwarkError('BAD_REQUEST', `HOTP counter ${counter} is not a non-negative integer`);
  }
  const message = Buffer.alloc(8);
  message.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac(HMAC_NAMES[algorithm], secret).update(message).digest();
  const offset = (mac[mac.length - 1] ?? 0) & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 10 ** digits).padStart(digits, '0');
}

/** The time step (RFC 6238 `T`) that `timeMs` falls in. */
export function totpStep(timeMs: number, periodSeconds = 30): number {
  return Math.floor(timeMs / 1000 / periodSeconds);
}

/**
 * The RFC 6238 TOTP code at `timeMs` (milliseconds since the epoch).
 *
 * @example totpCode(secret, Date.now()) // '287082'
 */
export function totpCode(secret: Uint8Array, timeMs: number, opts: TotpOptions = {}): string {
  return hotpCode(secret, totpStep(timeMs, period(opts)), opts);
}

/**
 * Checks a code typed by a user against the steps around `nowMs`, comparing in
 * constant time. A code whose step is at or before `lastUsedStep` is `replayed`:
 * store the returned `step` after a success so a code cannot be used twice.
 */
export function verifyTotp(secret: Uint8Array, code: string, nowMs: number, opts: VerifyTotpOptions = {}): TotpVerdict {
  const digits = opts.digits ?? 6;
  const window = Math.min(Math.max(Math.trunc(opts.window ?? 1), 0), MAX_WINDOW);
  // Apps show codes as "123 456"; people paste them that way.
  const typed = typeof code === 'string' ? code.replace(/\s+/g, '') : '';
  if (!new RegExp(`^\\d{${digits}}$`).test(typed)) return { ok: false, reason: 'malformed' };
  const presented = Buffer.from(typed);
  const current = totpStep(nowMs, period(opts));
  const last = opts.lastUsedStep ?? null;
  let fresh: number | undefined;
  let replayed = false;
  // Every step in the window is computed and compared, match or not, so the time
  // taken says nothing about which step (if any) matched.
  for (let step = current - window; step <= current + window; step++) {
    if (step < 0) continue;
    const expected = Buffer.from(hotpCode(secret, step, { algorithm: opts.algorithm ?? 'SHA1', digits }));
    if (!timingSafeEqual(expected, presented)) continue;
    if (last !== null && step <= last) replayed = true;
    else fresh ??= step;
  }
  if (fresh !== undefined) return { ok: true, step: fresh };
  return { ok: false, reason: replayed ? 'replayed' : 'mismatch' };
}

export interface OtpauthParams {
  issuer: string;
  account: string;
  secret: Uint8Array;
  algorithm?: TotpAlgorithm;
  digits?: 6 | 8;
  periodSeconds?: number;
}

/**
 * The Key Uri Format URI authenticator apps scan:
 * `otpauth://totp/Issuer:account?secret=…&issuer=…&algorithm=SHA1&digits=6&period=30`.
 * Issuer and account are percent-encoded (spaces as %20, never "+"); neither may
 * contain a colon, which separates them in the label.
 */
export function otpauthUri(params: OtpauthParams): string {
  for (const [field, value] of [['issuer', params.issuer], ['account', params.account]] as const) {
    if (value === '' || value.includes(':')) {
      throw new BulwarkError('BAD_REQUEST', `otpauth ${field} "${value}" must be non-empty and contain no ":"`);
    }
  }
  const label = `${encodeURIComponent(params.issuer)}:${encodeURIComponent(params.account)}`;
  const query = [
    `secret=${base32Encode(params.secret)}`,
    `issuer=${encodeURIComponent(params.issuer)}`,
    `algorithm=${params.algorithm ?? 'SHA1'}`,
    `digits=${params.digits ?? 6}`,
    `period=${period(params)}`,
  ].join('&');
  return `otpauth://totp/${label}?${query}`;
}

function period(opts: { periodSeconds?: number }): number {
  const p = opts.periodSeconds ?? 30;
  if (!Number.isInteger(p) || p < 1) throw new BulwarkError('BAD_REQUEST', `TOTP period ${p} is not a positive whole number of seconds`);
  return p;
}
