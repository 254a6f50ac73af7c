import { test } from 'node:test';
import assert from 'node:assert/strict';
import { base32, newId, newSerial, normaliseSerial } from './ids.js';

test('base32 matches the RFC 4648 test vectors, lower-case and unpadded', () => {
  const vectors: [string, string][] = [
    ['', ''],
    ['f', 'my'],
    ['fo', 'mzxq'],
    ['foo', 'mzxw6'],
    ['foob', 'mzxw6yq'],
    ['fooba', 'mzxw6ytb'],
    ['foobar', 'mzxw6ytboi'],
  ];
  for (const [input, expected] of vectors) assert.equal(base32(new TextEncoder().encode(input)), expected, input);
});

test('base32 encodes the extremes of the alphabet', () => {
  assert.equal(base32(new Uint8Array(5)), 'aaaaaaaa');
  assert.equal(base32(new Uint8Array(5).fill(0xff)), '77777777');
  assert.equal(base32(Uint8Array.of(0xff)), '74'); // 11111 111(00)
  // Every 5 bytes make exactly 8 characters; longer inputs do not overflow the accumulator.
  const long = base32(new Uint8Array(1000).fill(0xa5));
  assert.equal(long.length, 1600);
  assert.match(long, /^[a-z2-7]+$/);
});

test('newId is the prefix, "_" and 16 base32 characters (80 bits), fresh each time', () => {
  const ids = new Set<string>();
  for (let i = 0; i < 1000; i++) {
    const id = newId('node');
    assert.match(id, /^node_[a-z2-7]{16}$/);
    ids.add(id);
  }
  assert.equal(ids.size, 1000);
});

test('newSerial is a positive 128-bit number in normalised hex', () => {
  const serials = new Set<string>();
  for (let i = 0; i < 1000; i++) {
    const serial = newSerial();
    assert.match(serial, /^[1-9a-f][0-9a-f]*$/, serial); // lower-case, no leading zero
    assert.equal(normaliseSerial(serial), serial);
    const value = BigInt(`0x${serial}`);
    assert.ok(value > 0n);
    // The top bit is clear, so DER encodes it as a positive INTEGER of at most 16 bytes,
    // and the first byte is non-zero, so it carries at least 121 bits of entropy room.
    assert.ok(value < 1n << 127n, serial);
    assert.ok(value >= 1n << 120n, serial);
    serials.add(serial);
  }
  assert.equal(serials.size, 1000);
});

test('normaliseSerial strips colons and leading zeros and lower-cases', () => {
  assert.equal(normaliseSerial('00:AB:cd'), 'abcd');
  assert.equal(normaliseSerial('0ABCDEF'), 'abcdef');
  assert.equal(normaliseSerial('abcdef'), 'abcdef');
  assert.equal(normaliseSerial('01:00'), '100'); // only leading zeros go
  assert.equal(normaliseSerial('00'), '0');
  assert.equal(normaliseSerial('00:00'), '0');
  assert.equal(normaliseSerial(''), '0');
});

test('normaliseSerial makes the forms OpenSSL, Node and the database print compare equal', () => {
  const forms = ['00:9F:3A:01', '009F3A01', '9f3a01', '9F:3A:01'];
  assert.deepEqual(new Set(forms.map(normaliseSerial)), new Set(['9f3a01']));
});
