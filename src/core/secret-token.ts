import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { base32 } from './ids.js';

/**
 * Bearer secrets (join tokens, API tokens) look like `<prefix>_<id>_<secret>`:
 * the id finds the row without touching the secret, the 256-bit secret is stored
 * only as its SHA-256 (a slow hash buys nothing for random secrets of this size),
 * and the prefix lets secret scanners recognise a leaked token.
 */
export interface MintedToken {
  id: string;
  token: string;
  secretHash: string;
}

export function mintToken(prefix: string): MintedToken {
  const id = base32(randomBytes(10));
  const secret = randomBytes(32).toString('base64url');
  return { id, token: `${prefix}_${id}_${secret}`, secretHash: hashSecret(secret) };
}

export function parseToken(prefix: string, token: string): { id: string; secret: string } | undefined {
  const head = `${prefix}_`;
  if (!token.startsWith(head) || token.length > 256) return undefined;
  const rest = token.slice(head.length);
  const sep = rest.indexOf('_');
  if (sep <= 0) return undefined;
  const id = rest.slice(0, sep);
  const secret = rest.slice(sep + 1);
  if (!/^[a-z2-7]+$/.test(id) || !/^[A-Za-z0-9_-]{43}$/.test(secret)) return undefined;
  return { id, secret };
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** Constant-time comparison of a presented secret with a stored hash. */
export function secretMatches(secret: string, storedHash: string): boolean {
  const a = Buffer.from(hashSecret(secret), 'hex');
  const b = Buffer.from(storedHash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}
