import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { hashSecret, mintToken, parseToken, secretMatches } from './secret-token.js';

test('a minted token has the form <prefix>_<base32 id>_<43-character base64url secret>', () => {
  const minted = mintToken('bwj');
  assert.match(minted.token, /^bwj_[a-z2-7]{16}_[A-Za-z0-9_-]{43}$/);
  assert.equal(minted.token.slice(4, 20), minted.id);
  assert.match(minted.secretHash, /^[0-9a-f]{64}$/);
});

test('mint then parse returns the id and a secret that matches the stored hash', () => {
  // Many rounds: base64url secrets often contain "_", the separator, and must still parse.
  for (let i = 0; i < 200; i++) {
    const minted = mintToken('bwt');
    const parsed = parseToken('bwt', minted.token);
    assert.ok(parsed, minted.token);
    assert.equal(parsed.id, minted.id);
    assert.equal(`bwt_${parsed.id}_${parsed.secret}`, minted.token);
    assert.equal(secretMatches(parsed.secret, minted.secretHash), true);
  }
});

test('the stored hash is the SHA-256 of the secret only, never of the whole token', () => {
  const minted = mintToken('bwj');
  const parsed = parseToken('bwj', minted.token);
  assert.ok(parsed);
  assert.equal(minted.secretHash, createHash('sha256').update(parsed.secret).digest('hex'));
  assert.equal(hashSecret(parsed.secret), minted.secretHash);
  assert.equal(minted.token.includes(minted.secretHash), false);
});

test('every mint is fresh', () => {
  const tokens = new Set<string>();
  const ids = new Set<string>();
  for (let i = 0; i < 500; i++) {
    const minted = mintToken('bwj');
    tokens.add(minted.token);
    ids.add(minted.id);
  }
  assert.equal(tokens.size, 500);
  assert.equal(ids.size, 500);
});

test('parseToken refuses a token of another prefix', () => {
  const join = mintToken('bwj');
  assert.equal(parseToken('bwt', join.token), undefined);
  assert.equal(parseToken('bw', join.token), undefined);
  assert.equal(parseToken('bwjx', join.token), undefined);
  assert.equal(parseToken('BWJ', join.token), undefined);
  assert.equal(parseToken('bwj', join.token.slice(4)), undefined); // no prefix at all
});

test('parseToken checks the length and alphabet of each part', () => {
  const { id, token } = mintToken('bwj');
  const secret = token.slice(`bwj_${id}_`.length);
  assert.ok(parseToken('bwj', token));
  assert.equal(parseToken('bwj', `bwj_${id}_${secret.slice(1)}`), undefined); // 42 characters
  assert.equal(parseToken('bwj', `bwj_${id}_${secret}A`), undefined); // 44 characters
  assert.equal(parseToken('bwj', `bwj_${id}_${secret.slice(1)}=`), undefined); // padding is not base64url
  assert.equal(parseToken('bwj', `bwj_${id}_${secret.slice(1)}+`), undefined);
  assert.equal(parseToken('bwj', `bwj_${id.toUpperCase()}_${secret}`), undefined); // ids are lower-case base32
  assert.equal(parseToken('bwj', `bwj_${id.slice(0, -1)}1_${secret}`), undefined); // "1" is not base32
  assert.equal(parseToken('bwj', `bwj__${secret}`), undefined); // empty id
  assert.equal(parseToken('bwj', `bwj_${id}`), undefined); // no secret
  assert.equal(parseToken('bwj', `bwj_${id}_`), undefined);
  assert.equal(parseToken('bwj', ''), undefined);
  assert.equal(parseToken('bwj', 'bwj_'), undefined);
  assert.equal(parseToken('bwj', ` ${token}`), undefined);
  assert.equal(parseToken('bwj', `${token} `), undefined);
});

test('parseToken refuses anything longer than 256 characters before looking further', () => {
  const long = `bwj_${'a'.repeat(300)}_${'b'.repeat(43)}`;
  assert.equal(parseToken('bwj', long), undefined);
  // The same shape within the limit parses, so the limit is what refused it.
  const within = `bwj_${'a'.repeat(100)}_${'b'.repeat(43)}`;
  assert.deepEqual(parseToken('bwj', within), { id: 'a'.repeat(100), secret: 'b'.repeat(43) });
});

test('a tampered secret does not match, whichever character changed', () => {
  const minted = mintToken('bwj');
  const parsed = parseToken('bwj', minted.token);
  assert.ok(parsed);
  const { secret } = parsed;
  for (const index of [0, 21, 42]) {
    const replacement = secret[index] === 'A' ? 'B' : 'A';
    const tampered = `${secret.slice(0, index)}${replacement}${secret.slice(index + 1)}`;
    assert.equal(secretMatches(tampered, minted.secretHash), false, `position ${index}`);
  }
  assert.equal(secretMatches(mintToken('bwj').token, minted.secretHash), false);
  assert.equal(secretMatches('', minted.secretHash), false);
});

test('secretMatches is false, not an exception, for a malformed stored hash', () => {
  const minted = mintToken('bwj');
  const parsed = parseToken('bwj', minted.token);
  assert.ok(parsed);
  for (const stored of ['', 'zz', minted.secretHash.slice(0, 62), `${minted.secretHash}00`, 'not hex at all']) {
    assert.equal(secretMatches(parsed.secret, stored), false, stored);
  }
  // Upper-case hex decodes to the same bytes, so it still matches.
  assert.equal(secretMatches(parsed.secret, minted.secretHash.toUpperCase()), true);
});
