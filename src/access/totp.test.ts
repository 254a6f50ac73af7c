import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BulwarkError } from '../core/errors.js';
import { base32Decode, base32Encode, generateTotpSecret, hotpCode, otpauthUri, totpCode, totpStep, verifyTotp } from './totp.js';
import type { TotpAlgorithm } from './totp.js';

// RFC 6238 Appendix B: the seeds are the ASCII digits repeated to the hash's length.
const SEEDS: Record<TotpAlgorithm, Buffer> = {
  SHA1: Buffer.from('12345678901234567890', 'ascii'),
  SHA256: Buffer.from('12345678901234567890123456789012', 'ascii'),
  SHA512: Buffer.from('1234567890123456789012345678901234567890123456789012345678901234', 'ascii'),
};

const RFC6238: [number, string, TotpAlgorithm][] = [
  [59, '94287082', 'SHA1'],
  [59, '46119246', 'SHA256'],
  [59, '90693936', 'SHA512'],
  [1111111109, '07081804', 'SHA1'],
  [1111111109, '68084774', 'SHA256'],
  [1111111109, '25091201', 'SHA512'],
  [1111111111, '14050471', 'SHA1'],
  [1111111111, '67062674', 'SHA256'],
  [1111111111, '99943326', 'SHA512'],
  [1234567890, '89005924', 'SHA1'],
  [1234567890, '91819424', 'SHA256'],
  [1234567890, '93441116', 'SHA512'],
  [2000000000, '69279037', 'SHA1'],
  [2000000000, '90698825', 'SHA256'],
  [2000000000, '38618901', 'SHA512'],
  [20000000000, '65353130', 'SHA1'],
  [20000000000, '77737706', 'SHA256'],
  [20000000000, '47863826', 'SHA512'],
];

test('TOTP matches every RFC 6238 Appendix B test vector', () => {
  for (const [seconds, expected, algorithm] of RFC6238) {
    assert.equal(totpCode(SEEDS[algorithm], seconds * 1000, { algorithm, digits: 8 }), expected, `${algorithm} at ${seconds}`);
  }
});

test('the RFC 6238 vectors also verify, and not one step later', () => {
  for (const [seconds, expected, algorithm] of RFC6238) {
    const result = verifyTotp(SEEDS[algorithm], expected, seconds * 1000, { algorithm, digits: 8 });
    assert.deepEqual(result, { ok: true, step: Math.floor(seconds / 30) });
    assert.equal(verifyTotp(SEEDS[algorithm], expected, (seconds + 60) * 1000, { algorithm, digits: 8 }).ok, false);
  }
});

test('HOTP matches RFC 4226 Appendix D', () => {
  const expected = ['755224', '287082', '359152', '969429', '338314', '254676', '287922', '162583', '399871', '520489'];
  expected.forEach((code, counter) => assert.equal(hotpCode(SEEDS.SHA1, counter), code, `counter ${counter}`));
});

test('6-digit TOTP is the last six digits of the 8-digit value', () => {
  assert.equal(totpCode(SEEDS.SHA1, 59_000), '287082');
  assert.equal(totpCode(SEEDS.SHA256, 1111111109_000, { algorithm: 'SHA256' }), '084774');
});

test('the period sets the step', () => {
  assert.equal(totpStep(59_000), 1);
  assert.equal(totpStep(59_000, 60), 0);
  assert.equal(totpCode(SEEDS.SHA1, 119_000, { periodSeconds: 60, digits: 8 }), totpCode(SEEDS.SHA1, 59_000, { digits: 8 }));
  assert.throws(() => totpCode(SEEDS.SHA1, 0, { periodSeconds: 0 }), BulwarkError);
});

const T = 1_700_000_010_000; // 10 s into a 30 s step
const secret = SEEDS.SHA1;
const at = (offsetSteps: number): string => totpCode(secret, T + offsetSteps * 30_000);

test('a code one step either side is accepted, two steps is not', () => {
  const step = totpStep(T);
  assert.deepEqual(verifyTotp(secret, at(0), T), { ok: true, step });
  assert.deepEqual(verifyTotp(secret, at(-1), T), { ok: true, step: step - 1 });
  assert.deepEqual(verifyTotp(secret, at(1), T), { ok: true, step: step + 1 });
  assert.deepEqual(verifyTotp(secret, at(-2), T), { ok: false, reason: 'mismatch' });
  assert.deepEqual(verifyTotp(secret, at(2), T), { ok: false, reason: 'mismatch' });
});

test('the window can be widened or closed', () => {
  assert.equal(verifyTotp(secret, at(2), T, { window: 2 }).ok, true);
  assert.equal(verifyTotp(secret, at(1), T, { window: 0 }).ok, false);
  assert.equal(verifyTotp(secret, at(0), T, { window: 0 }).ok, true);
});

test('a code is not reusable: its step and earlier ones are refused as replayed', () => {
  const first = verifyTotp(secret, at(0), T);
  assert.ok(first.ok);
  assert.deepEqual(verifyTotp(secret, at(0), T + 5_000, { lastUsedStep: first.step }), { ok: false, reason: 'replayed' });
  // The previous step's code is still inside the window, but older than the one used.
  assert.deepEqual(verifyTotp(secret, at(-1), T, { lastUsedStep: first.step }), { ok: false, reason: 'replayed' });
  // The next code is fine.
  assert.deepEqual(verifyTotp(secret, at(1), T, { lastUsedStep: first.step }), { ok: true, step: first.step + 1 });
  // A wrong code stays a mismatch, whatever was used before.
  const wrong = at(0) === '000000' ? '111111' : '000000';
  assert.equal(verifyTotp(secret, wrong, T, { lastUsedStep: first.step }).ok, false);
  assert.equal(verifyTotp(secret, at(0), T, { lastUsedStep: null }).ok, true);
});

test('malformed codes are told apart from wrong ones', () => {
  for (const code of ['', '12345', '1234567', 'abcdef', '12345a', '１２３４５６']) {
    assert.deepEqual(verifyTotp(secret, code, T), { ok: false, reason: 'malformed' }, JSON.stringify(code));
  }
  assert.deepEqual(verifyTotp(secret, at(0).slice(0, 6), T, { digits: 8 }), { ok: false, reason: 'malformed' });
  assert.equal(verifyTotp(secret, `${at(0).slice(0, 3)} ${at(0).slice(3)}`, T).ok, true, 'a space in the middle is ignored');
  assert.deepEqual(verifyTotp(secret, undefined as unknown as string, T), { ok: false, reason: 'malformed' });
});

test('SHA-256 secrets verify with their algorithm only', () => {
  const s = generateTotpSecret('SHA256');
  const code = totpCode(s, T, { algorithm: 'SHA256' });
  assert.equal(verifyTotp(s, code, T, { algorithm: 'SHA256' }).ok, true);
  // A collision across algorithms is possible but vanishingly rare for a fixed pair.
  const sha1 = totpCode(s, T);
  if (sha1 !== code) assert.equal(verifyTotp(s, code, T).ok, false);
});

test('generated secrets have the RFC lengths and differ', () => {
  assert.equal(generateTotpSecret('SHA1').length, 20);
  assert.equal(generateTotpSecret('SHA256').length, 32);
  assert.notDeepEqual(generateTotpSecret('SHA1'), generateTotpSecret('SHA1'));
});

test('base32 matches RFC 4648 section 10, without padding', () => {
  const vectors: [string, string][] = [
    ['', ''],
    ['f', 'MY'],
    ['fo', 'MZXQ'],
    ['foo', 'MZXW6'],
    ['foob', 'MZXW6YQ'],
    ['fooba', 'MZXW6YTB'],
    ['foobar', 'MZXW6YTBOI'],
  ];
  for (const [plain, encoded] of vectors) {
    assert.equal(base32Encode(Buffer.from(plain)), encoded);
    assert.equal(base32Decode(encoded).toString(), plain);
  }
  assert.equal(base32Encode(SEEDS.SHA1), 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ');
});

test('base32 decoding forgives case, spaces and padding, and rejects other characters', () => {
  assert.equal(base32Decode('gezd gnbv gy3t qojq gezd gnbv gy3t qojq').toString(), '12345678901234567890');
  assert.equal(base32Decode('MZXW6YQ=').toString(), 'foob');
  assert.throws(() => base32Decode('MZXW1'), (err: unknown) => err instanceof BulwarkError && err.code === 'BAD_REQUEST' && /"1" at position 5/.test(err.message));
  for (let i = 0; i < 50; i++) {
    const bytes = generateTotpSecret('SHA1').subarray(0, i % 20);
    assert.deepEqual(base32Decode(base32Encode(bytes)), bytes);
  }
});

test('otpauth URI follows the Key Uri Format with correct percent-encoding', () => {
  assert.equal(
    otpauthUri({ issuer: 'Bulwark', account: 'alice', secret: SEEDS.SHA1, algorithm: 'SHA1', digits: 6, periodSeconds: 30 }),
    'otpauth://totp/Bulwark:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Bulwark&algorithm=SHA1&digits=6&period=30',
  );
  const uri = otpauthUri({ issuer: 'ACME Co & Sons', account: 'bob@example.com', secret: Buffer.from('hi'), algorithm: 'SHA256', digits: 8, periodSeconds: 60 });
  assert.equal(uri, 'otpauth://totp/ACME%20Co%20%26%20Sons:bob%40example.com?secret=NBUQ&issuer=ACME%20Co%20%26%20Sons&algorithm=SHA256&digits=8&period=60');
  const parsed = new URL(uri);
  assert.equal(parsed.searchParams.get('issuer'), 'ACME Co & Sons');
  assert.equal(parsed.host, 'totp');
  assert.equal(decodeURIComponent(parsed.pathname), '/ACME Co & Sons:bob@example.com');
  assert.throws(() => otpauthUri({ issuer: 'a:b', account: 'c', secret: SEEDS.SHA1 }), BulwarkError);
  assert.throws(() => otpauthUri({ issuer: 'a', account: '', secret: SEEDS.SHA1 }), BulwarkError);
});
