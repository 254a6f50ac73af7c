import { createCipheriv, createDecipheriv, randomBytes, scrypt, type ScryptOptions } from 'node:crypto';
import { BulwarkError } from '../core/errors.js';

/** scrypt cost of a passphrase-wrapped master key: N = 2^17, r = 8 (128 MiB, about half a second here). */
export const DEFAULT_PASSPHRASE_COST = { log2N: 17, r: 8, p: 1 } as const;
export type PassphraseCost = { log2N: number; r: number; p: number };

const VERSION = 'bwp1';
const SALT_BYTES = 16;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
/** A stored cost above this would let a tampered file make unsealing take minutes and gigabytes. */
const MAX_LOG2N = 20;
const MIN_PASSPHRASE_CHARS = 12;

function derive(passphrase: string, salt: Buffer, cost: PassphraseCost): Promise<Buffer> {
  const options: ScryptOptions = { N: 2 ** cost.log2N, r: cost.r, p: cost.p, maxmem: 2 ** cost.log2N * 128 * cost.r * 2 };
  return new Promise((resolve, reject) => {
    scrypt(passphrase.normalize('NFC'), salt, KEY_BYTES, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

function checkCost(cost: PassphraseCost): void {
  const ok = Number.isInteger(cost.log2N) && cost.log2N >= 14 && cost.log2N <= MAX_LOG2N && Number.isInteger(cost.r) && cost.r >= 1 && cost.r <= 32 && Number.isInteger(cost.p) && cost.p >= 1 && cost.p <= 4;
  if (!ok) throw new BulwarkError('KEY_FILE_INVALID', `scrypt cost N=2^${cost.log2N}, r=${cost.r}, p=${cost.p} is outside what Bulwark accepts (N 2^14–2^${MAX_LOG2N}, r 1–32, p 1–4)`);
}

/**
 * Wraps a master key under a passphrase: an scrypt-derived key seals it with
 * AES-256-GCM, the cost and salt travel with it. Sealed form:
 * `bwp1.<log2N>.<r>.<p>.<salt>.<nonce>.<ciphertext‖tag>` (base64url).
 */
export async function wrapWithPassphrase(masterKey: Uint8Array, passphrase: string, cost: PassphraseCost = DEFAULT_PASSPHRASE_COST): Promise<string> {
  if (passphrase.length < MIN_PASSPHRASE_CHARS) {
    throw new BulwarkError('BAD_REQUEST', `a passphrase must have at least ${MIN_PASSPHRASE_CHARS} characters; a few words are easier to type than symbols`);
  }
  checkCost(cost);
  const salt = randomBytes(SALT_BYTES);
  const nonce = randomBytes(NONCE_BYTES);
  const kek = await derive(passphrase, salt, cost);
  const header = `${VERSION}.${cost.log2N}.${cost.r}.${cost.p}.${salt.toString('base64url')}`;
  const cipher = createCipheriv('aes-256-gcm', kek, nonce, { authTagLength: TAG_BYTES });
  // The header is authenticated too: lowering the stored cost is tampering, not a cheaper unseal.
  cipher.setAAD(Buffer.from(header));
  const body = Buffer.concat([cipher.update(masterKey), cipher.final(), cipher.getAuthTag()]);
  kek.fill(0);
  return `${header}.${nonce.toString('base64url')}.${body.toString('base64url')}`;
}

/** Opens a passphrase-wrapped master key; a wrong passphrase (or a damaged file) is UNSEAL_FAILED. */
export async function unwrapWithPassphrase(wrapped: string, passphrase: string): Promise<Buffer> {
  const parts = wrapped.trim().split('.');
  const [version, n, r, p, saltText, nonceText, bodyText] = parts;
  if (parts.length !== 7 || version !== VERSION || !saltText || !nonceText || !bodyText) {
    throw new BulwarkError('KEY_FILE_INVALID', `a passphrase-wrapped key is ${VERSION}.<log2N>.<r>.<p>.<salt>.<nonce>.<ciphertext>; this one is not`);
  }
  const cost = { log2N: Number(n), r: Number(r), p: Number(p) };
  checkCost(cost);
  const salt = Buffer.from(saltText, 'base64url');
  const nonce = Buffer.from(nonceText, 'base64url');
  const body = Buffer.from(bodyText, 'base64url');
  if (salt.length !== SALT_BYTES || nonce.length !== NONCE_BYTES || body.length !== KEY_BYTES + TAG_BYTES) {
    throw new BulwarkError('KEY_FILE_INVALID', 'the passphrase-wrapped key is damaged (wrong lengths)');
  }
  const kek = await derive(passphrase, salt, cost);
  try {
    const decipher = createDecipheriv('aes-256-gcm', kek, nonce, { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(parts.slice(0, 5).join('.')));
    decipher.setAuthTag(body.subarray(KEY_BYTES));
    return Buffer.concat([decipher.update(body.subarray(0, KEY_BYTES)), decipher.final()]);
  } catch {
    throw new BulwarkError('UNSEAL_FAILED', 'wrong passphrase (or the wrapped key was altered); try again');
  } finally {
    kek.fill(0);
  }
}
