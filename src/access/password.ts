import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { BulwarkError } from '../core/errors.js';

/**
 * scrypt cost parameters: N = 2^ln, block size r, parallelism p. They are recorded
 * in every hash so they can be raised later without locking anyone out.
 */
export interface ScryptParams {
  ln: number;
  r: number;
  p: number;
}

/** OWASP's recommended minimum (N = 2^15, r = 8, p = 1): ~32 MiB and ~0.1 s per hash. */
export const DEFAULT_SCRYPT_PARAMS: Readonly<ScryptParams> = Object.freeze({ ln: 15, r: 8, p: 1 });

export const PASSWORD_MIN_LENGTH = 12;
export const PASSWORD_MAX_LENGTH = 1024;

const SALT_BYTES = 16;
const KEY_BYTES = 32;

// Bounds on what a stored hash may ask for: a corrupted or hostile row must not make
// the server allocate gigabytes or spin for minutes.
const LIMITS = { ln: [1, 20], r: [1, 32], p: [1, 16] } as const;

/**
 * Hashes a password with scrypt under a fresh 16-byte salt.
 *
 * @example await hashPassword('correct horse battery') // 'scrypt$ln=15,r=8,p=1$<salt>$<hash>'
 */
export async function hashPassword(password: string, params: ScryptParams = DEFAULT_SCRYPT_PARAMS): Promise<string> {
  if (!withinLimits(params)) {
    throw new BulwarkError('CONFIG_INVALID', `scrypt parameters ln=${params.ln},r=${params.r},p=${params.p} are out of range (ln 1–20, r 1–32, p 1–16)`);
  }
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, params, KEY_BYTES);
  return `scrypt$ln=${params.ln},r=${params.r},p=${params.p}$${b64(salt)}$${b64(key)}`;
}

/**
 * Checks a password against a stored hash in constant time. Never throws on a
 * malformed stored string (it simply does not verify). `needsRehash` tells the
 * caller to store a fresh hash, made with the current defaults, after a
 * successful login.
 */
export async function verifyPassword(password: string, stored: string): Promise<{ ok: boolean; needsRehash: boolean }> {
  const parsed = parseHash(stored);
  if (!parsed) return { ok: false, needsRehash: false };
  const actual = await derive(password, parsed.salt, parsed.params, parsed.hash.length);
  const ok = timingSafeEqual(actual, parsed.hash);
  const needsRehash =
    parsed.params.ln < DEFAULT_SCRYPT_PARAMS.ln ||
    parsed.params.r < DEFAULT_SCRYPT_PARAMS.r ||
    parsed.params.p < DEFAULT_SCRYPT_PARAMS.p ||
    parsed.hash.length < KEY_BYTES ||
    parsed.salt.length < SALT_BYTES;
  return { ok, needsRehash: ok && needsRehash };
}

/**
 * A well-formed hash of a random password under the default parameters. Verifying
 * against it costs what verifying a real user's password costs, so a login for an
 * unknown user takes as long as one for a known user.
 */
export const DUMMY_PASSWORD_HASH =
  'scrypt$ln=15,r=8,p=1$YnVsd2Fyay1kdW1teS1zYWx0$3q3zkVtIf+8ql5yZ8ZmWLX9gsi5S8IfWv0o/7s7kDLU';

/**
 * Spends the time of one password verification and reports failure; call it when
 * the user does not exist (or is locked) so timing does not reveal which.
 * Pass the parameters the server hashes with if they differ from the defaults.
 */
export async function verifyAgainstDummy(password: string, params: ScryptParams = DEFAULT_SCRYPT_PARAMS): Promise<false> {
  const stored =
    params.ln === DEFAULT_SCRYPT_PARAMS.ln && params.r === DEFAULT_SCRYPT_PARAMS.r && params.p === DEFAULT_SCRYPT_PARAMS.p
      ? DUMMY_PASSWORD_HASH
      : DUMMY_PASSWORD_HASH.replace('ln=15,r=8,p=1', `ln=${params.ln},r=${params.r},p=${params.p}`);
  await verifyPassword(password, stored);
  return false;
}

/**
 * Throws BAD_REQUEST unless the password has 12 to 1024 characters (counted as
 * Unicode code points after NFC normalisation, as the user sees them).
 */
export function checkPasswordPolicy(password: string): void {
  const length = [...password.normalize('NFC')].length;
  if (length < PASSWORD_MIN_LENGTH) {
    throw new BulwarkError('BAD_REQUEST', `password is too short: use at least ${PASSWORD_MIN_LENGTH} characters (a passphrase of a few words is easiest)`);
  }
  if (length > PASSWORD_MAX_LENGTH) {
    throw new BulwarkError('BAD_REQUEST', `password is too long: use at most ${PASSWORD_MAX_LENGTH} characters`);
  }
}

interface ParsedHash {
  params: ScryptParams;
  salt: Buffer;
  hash: Buffer;
}

function parseHash(stored: string): ParsedHash | undefined {
  if (typeof stored !== 'string' || stored.length > 512) return undefined;
  const match = /^scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})$/.exec(stored);
  if (!match) return undefined;
  const params = { ln: Number(match[1]), r: Number(match[2]), p: Number(match[3]) };
  if (!withinLimits(params)) return undefined;
  const salt = Buffer.from(match[4] ?? '', 'base64');
  const hash = Buffer.from(match[5] ?? '', 'base64');
  // Too short a salt or key would make the check meaningless, not merely weak.
  if (salt.length < 8 || hash.length < 16 || hash.length > 64) return undefined;
  return { params, salt, hash };
}

function withinLimits(params: ScryptParams): boolean {
  return (Object.keys(LIMITS) as (keyof ScryptParams)[]).every((k) => {
    const v = params[k];
    return Number.isInteger(v) && v >= LIMITS[k][0] && v <= LIMITS[k][1];
  });
}

function derive(password: string, salt: Buffer, params: ScryptParams, length: number): Promise<Buffer> {
  const N = 2 ** params.ln;
  // OpenSSL needs 128·r·(N + p + 2) bytes; Node's default cap (32 MiB) is just short
  // of what the default parameters take.
  const maxmem = 128 * params.r * (N + params.p + 2) + 1024 * 1024;
  // The same password typed on two systems may arrive in different Unicode forms.
  const input = Buffer.from(password.normalize('NFC'), 'utf8');
  return new Promise((resolve, reject) => {
    scrypt(input, salt, length, { N, r: params.r, p: params.p, maxmem }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

function b64(bytes: Buffer): string {
  return bytes.toString('base64').replace(/=+$/, '');
}
