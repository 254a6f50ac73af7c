import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { isBulwarkError } from '../core/errors.js';
import { combine, decodeShare, encodeShare, gfInv, gfMul, split, type Share } from './shamir.js';

function subsets<T>(items: readonly T[], size: number): T[][] {
  if (size === 0) return [[]];
  return items.flatMap((item, i) => subsets(items.slice(i + 1), size - 1).map((rest) => [item, ...rest]));
}

const refused = (pattern: RegExp) => (err: unknown) => isBulwarkError(err) && err.code === 'INVALID_SHARE' && pattern.test(err.message);

test('GF(256): every non-zero element has an inverse, and multiplication distributes over XOR', () => {
  for (let a = 1; a < 256; a++) assert.equal(gfMul(a, gfInv(a)), 1, `inverse of ${a}`);
  // Known product in the AES field: 0x57 × 0x83 = 0xc1 (FIPS-197, 4.2).
  assert.equal(gfMul(0x57, 0x83), 0xc1);
  for (let i = 0; i < 2000; i++) {
    const [a = 0, b = 0, c = 0] = randomBytes(3);
    assert.equal(gfMul(a, b ^ c), gfMul(a, b) ^ gfMul(a, c));
    assert.equal(gfMul(a, b), gfMul(b, a));
  }
});

test('any threshold of the shares recovers the secret, every smaller subset gives a wrong one', () => {
  const secret = randomBytes(32);
  const shares = split(secret, 5, 3);
  assert.equal(new Set(shares.map((s) => s.x)).size, 5);
  for (const chosen of [...subsets(shares, 3), ...subsets(shares, 4), shares]) {
    assert.deepEqual(Buffer.from(combine(chosen)), secret, `shares ${chosen.map((s) => s.x).join(',')}`);
  }
  // Two shares are refused outright; forced through as a threshold-2 set, no pair yields the secret.
  for (const pair of subsets(shares, 2)) {
    assert.throws(() => combine(pair), refused(/3 shares are needed, 2 given/));
    const forced = pair.map((s) => ({ ...s, threshold: 2 }));
    assert.notDeepEqual(Buffer.from(combine(forced)), secret);
  }
});

test('threshold − 1 shares reveal nothing: every secret byte stays possible, each for exactly one missing share', () => {
  const shares = split(Uint8Array.of(0x42), 4, 3);
  const known = shares.slice(0, 2);
  const third = shares[2] as Share;
  const secrets = new Set<number>();
  for (let y = 0; y < 256; y++) secrets.add((combine([...known, { ...third, y: Uint8Array.of(y) }])[0]) as number);
  assert.equal(secrets.size, 256);
});

test('edge sizes: one share, threshold one, threshold equal to the share count, 255 shares', () => {
  const secret = randomBytes(16);
  assert.deepEqual(Buffer.from(combine(split(secret, 1, 1))), secret);
  const ones = split(secret, 3, 1);
  for (const s of ones) assert.deepEqual(Buffer.from(combine([s])), secret);
  const all = split(secret, 4, 4);
  assert.deepEqual(Buffer.from(combine(all.reverse())), secret);
  const many = split(secret, 255, 7);
  assert.deepEqual(Buffer.from(combine(many.slice(200, 207))), secret);
  assert.throws(() => split(secret, 256, 2), (err: unknown) => isBulwarkError(err) && err.code === 'BAD_REQUEST');
  assert.throws(() => split(secret, 3, 4), (err: unknown) => isBulwarkError(err) && /threshold must be 1–3/.test((err as Error).message));
});

test('shares round-trip through text; a typo, a foreign set or a repeated share is named', () => {
  const secret = randomBytes(32);
  const text = split(secret, 5, 3).map(encodeShare);
  assert.match(text[0] ?? '', /^bws1-[0-9a-f]{8}-3-1-[0-9a-f]{64}-[0-9a-f]{8}$/);
  assert.deepEqual(Buffer.from(combine([text[4], ` ${(text[0] ?? '').toUpperCase()} `, text[2]].map((t) => decodeShare(t ?? '')))), secret);

  const share = text[1] ?? '';
  const at = share.length - 20;
  const typo = `${share.slice(0, at)}${share[at] === '0' ? '1' : '0'}${share.slice(at + 1)}`;
  assert.throws(() => decodeShare(typo), refused(/checksum/));
  assert.throws(() => decodeShare('hello'), refused(/not a share/));
  const other = split(secret, 5, 3).map(encodeShare);
  assert.throws(() => combine([text[0], text[1], other[2]].map((t) => decodeShare(t ?? ''))), refused(/another set/));
  assert.throws(() => combine([text[0], text[0], text[1]].map((t) => decodeShare(t ?? ''))), refused(/given twice/));
});
