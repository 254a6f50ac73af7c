import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { BulwarkError } from '../core/errors.js';

/*
 * Shamir secret sharing over GF(2^8): each byte of the secret is the constant
 * term of its own random polynomial of degree threshold − 1, and share x holds
 * every polynomial's value at x. Any `threshold` shares give the polynomials back
 * (Lagrange interpolation at 0); fewer leave every secret equally possible.
 */

// GF(2^8) with the AES reduction polynomial x^8 + x^4 + x^3 + x + 1; 3 generates
// the multiplicative group, so log/exp tables turn products into sums.
const EXP = new Uint8Array(510);
const LOG = new Uint8Array(256);
{
  let value = 1;
  for (let i = 0; i < 255; i++) {
    EXP[i] = value;
    LOG[value] = i;
    // value × 3 = value × 2 ⊕ value, with the reduction when the top bit falls out.
    value ^= (value << 1) ^ (value & 0x80 ? 0x11b : 0);
  }
  for (let i = 255; i < 510; i++) EXP[i] = EXP[i - 255] as number;
}

export function gfMul(a: number, b: number): number {
  if (a === 0 || b === 0) return 0;
  return EXP[(LOG[a] as number) + (LOG[b] as number)] as number;
}

export function gfInv(a: number): number {
  if (a === 0) throw new RangeError('0 has no inverse in GF(256)');
  return EXP[255 - (LOG[a] as number)] as number;
}

/** One share: its x coordinate (1–255), the polynomials' values there, and which split it belongs to. */
export interface Share {
  /** Identifies one split, so shares of different splits are never combined. */
  setId: string;
  threshold: number;
  x: number;
  y: Uint8Array;
}

const PREFIX = 'bws1';
const SET_ID_BYTES = 4;

/**
 * Splits `secret` into `shares` shares, any `threshold` of which recover it.
 *
 * @example split(masterKey, 5, 3) // five shares; any three unseal
 */
export function split(secret: Uint8Array, shares: number, threshold: number): Share[] {
  if (!Number.isInteger(shares) || shares < 1 || shares > 255) throw new BulwarkError('BAD_REQUEST', `the number of shares must be 1–255, not ${shares}`);
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > shares) {
    throw new BulwarkError('BAD_REQUEST', `the threshold must be 1–${shares} (the number of shares), not ${threshold}`);
  }
  if (secret.length === 0) throw new BulwarkError('BAD_REQUEST', 'an empty secret cannot be shared');
  const setId = randomBytes(SET_ID_BYTES).toString('hex');
  // coefficients[k][i]: the degree-k coefficient of byte i's polynomial; degree 0 is the secret.
  const coefficients = [Uint8Array.from(secret), ...Array.from({ length: threshold - 1 }, () => new Uint8Array(randomBytes(secret.length)))];
  const out: Share[] = [];
  for (let x = 1; x <= shares; x++) {
    const y = new Uint8Array(secret.length);
    for (let i = 0; i < secret.length; i++) {
      // Horner's rule from the highest coefficient down.
      let acc = 0;
      for (let k = threshold - 1; k >= 0; k--) acc = gfMul(acc, x) ^ ((coefficients[k] as Uint8Array)[i] as number);
      y[i] = acc;
    }
    out.push({ setId, threshold, x, y });
  }
  for (const c of coefficients) c.fill(0);
  return out;
}

/** Recovers the secret from at least `threshold` shares of one split. Throws INVALID_SHARE naming what is wrong. */
export function combine(shares: readonly Share[]): Uint8Array {
  const first = shares[0];
  if (!first) throw new BulwarkError('INVALID_SHARE', 'no shares given');
  const xs = new Set<number>();
  for (const s of shares) {
    if (s.setId !== first.setId) throw new BulwarkError('INVALID_SHARE', `share ${s.x} belongs to another set of shares (${s.setId}, not ${first.setId}); use shares printed together`);
    if (s.threshold !== first.threshold || s.y.length !== first.y.length) throw new BulwarkError('INVALID_SHARE', `share ${s.x} does not match the others; it may be damaged`);
    if (xs.has(s.x)) throw new BulwarkError('INVALID_SHARE', `share ${s.x} was given twice; give ${first.threshold} different shares`);
    xs.add(s.x);
  }
  if (shares.length < first.threshold) {
    throw new BulwarkError('INVALID_SHARE', `${first.threshold} shares are needed, ${shares.length} given`);
  }
  const used = shares.slice(0, first.threshold);
  const secret = new Uint8Array(first.y.length);
  for (let j = 0; j < used.length; j++) {
    const sj = used[j] as Share;
    // Lagrange basis at 0: ∏ x_m / (x_m − x_j); subtraction is XOR in GF(2^8).
    let basis = 1;
    for (let m = 0; m < used.length; m++) {
      if (m === j) continue;
      const xm = (used[m] as Share).x;
      basis = gfMul(basis, gfMul(xm, gfInv(xm ^ sj.x)));
    }
    for (let i = 0; i < secret.length; i++) secret[i] = (secret[i] as number) ^ gfMul(basis, sj.y[i] as number);
  }
  return secret;
}

function checksum(body: string): string {
  return createHash('sha256').update(body).digest('hex').slice(0, 8);
}

/** The text form printed to a share holder: `bws1-<set>-<threshold>-<x>-<hex>-<checksum>`. */
export function encodeShare(share: Share): string {
  const body = `${PREFIX}-${share.setId}-${share.threshold}-${share.x}-${Buffer.from(share.y).toString('hex')}`;
  return `${body}-${checksum(body)}`;
}

const SHARE_PATTERN = /^bws1-([0-9a-f]{8})-(\d{1,3})-(\d{1,3})-((?:[0-9a-f]{2})+)-([0-9a-f]{8})$/;

/** Reads a share as typed or pasted (case and surrounding blanks ignored); a typo fails its checksum. */
export function decodeShare(text: string): Share {
  const clean = text.trim().toLowerCase();
  const match = SHARE_PATTERN.exec(clean);
  if (!match) throw new BulwarkError('INVALID_SHARE', 'that is not a share: a share looks like bws1-1a2b3c4d-3-1-<hex>-<checksum>, as printed at init or rekey');
  const [, setId = '', t = '', x = '', hex = '', sum = ''] = match;
  const body = clean.slice(0, clean.length - sum.length - 1);
  if (!timingSafeEqual(Buffer.from(checksum(body)), Buffer.from(sum))) {
    throw new BulwarkError('INVALID_SHARE', 'the share fails its checksum: it was mistyped or damaged; check it character by character');
  }
  const threshold = Number(t);
  const xValue = Number(x);
  if (threshold < 1 || threshold > 255 || xValue < 1 || xValue > 255) throw new BulwarkError('INVALID_SHARE', 'the share names an impossible threshold or number');
  return { setId, threshold, x: xValue, y: new Uint8Array(Buffer.from(hex, 'hex')) };
}
