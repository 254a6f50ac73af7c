import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { BulwarkError } from '../core/errors.js';
import { encodeMpint, encodeNameList, encodeString, encodeUint32, encodeUint64, SshReader, SshWriter } from './ssh-wire.js';

const hex = (b: Buffer): string => b.toString('hex');
const reader = (h: string): SshReader => new SshReader(Buffer.from(h, 'hex'), 'the input');

test('mpint encodes the examples of RFC 4251 §5', () => {
  const vectors: [bigint, string][] = [
    [0n, '00000000'],
    [0x9a378f9b2e332a7n, '0000000809a378f9b2e332a7'],
    [0x80n, '000000020080'],
    [-0x1234n, '00000002edcc'],
    [-0xdeadbeefn, '00000005ff21524111'],
  ];
  for (const [value, encoded] of vectors) {
    assert.equal(hex(encodeMpint(value)), encoded, `encode ${value}`);
    assert.equal(reader(encoded).mpint(), value, `decode ${encoded}`);
  }
});

test('mpint round-trips edge values and random numbers of both signs', () => {
  const values = [1n, -1n, 0x7fn, 0xffn, -0x80n, -0x81n, 0x7fffn, 0x8000n, -(1n << 63n), (1n << 64n) - 1n];
  for (let i = 0; i < 200; i++) {
    const v = BigInt(`0x${randomBytes(1 + (i % 40)).toString('hex')}`);
    values.push(v, -v);
  }
  for (const v of values) {
    const r = new SshReader(encodeMpint(v), 'x');
    assert.equal(r.mpint(), v);
    r.end();
  }
});

test('mpint decoding refuses unnecessary leading bytes', () => {
  for (const bad of ['0000000100', '000000020001', '000000020000', '00000002ff80', '00000002ffff']) {
    assert.throws(() => reader(bad).mpint(), { code: 'INVALID_SSH_KEY', message: /unnecessary leading bytes/ }, bad);
  }
  assert.equal(reader('00000001ff').mpint(), -1n);
});

test('string, uint32, uint64 and name-list match RFC 4251 §5', () => {
  assert.equal(hex(encodeString('testing')), '0000000774657374696e67');
  assert.equal(hex(encodeUint32(0x29b7f4aa)), '29b7f4aa');
  assert.equal(hex(encodeUint64(0x0102030405060708n)), '0102030405060708');
  assert.equal(hex(encodeUint64((1n << 64n) - 1n)), 'ffffffffffffffff');
  assert.equal(hex(encodeNameList([])), '00000000');
  assert.equal(hex(encodeNameList(['zlib'])), '000000047a6c6962');
  assert.equal(hex(encodeNameList(['zlib', 'none'])), '000000097a6c69622c6e6f6e65');
  assert.deepEqual(reader('000000097a6c69622c6e6f6e65').nameList(), ['zlib', 'none']);
  assert.deepEqual(reader('00000000').nameList(), []);
});

test('encoders refuse values that do not fit', () => {
  assert.throws(() => encodeUint32(-1), BulwarkError);
  assert.throws(() => encodeUint32(2 ** 32), BulwarkError);
  assert.throws(() => encodeUint32(1.5), BulwarkError);
  assert.throws(() => encodeUint64(-1n), BulwarkError);
  assert.throws(() => encodeUint64(1n << 64n), BulwarkError);
  for (const bad of [[''], ['a,b'], ['caf\u00e9'], ['a b']]) assert.throws(() => encodeNameList(bad), BulwarkError);
});

test('the writer concatenates fields in order and the reader reads them back', () => {
  const buf = new SshWriter().string('ssh-ed25519').uint32(7).uint64(9n).mpint(-5n).nameList(['a', 'b']).raw(Buffer.from([1, 2])).toBuffer();
  const r = new SshReader(buf, 'x');
  assert.equal(r.text(), 'ssh-ed25519');
  assert.equal(r.uint32(), 7);
  assert.equal(r.uint64(), 9n);
  assert.equal(r.mpint(), -5n);
  assert.deepEqual(r.nameList(), ['a', 'b']);
  assert.equal(r.remaining, 2);
  assert.throws(() => r.end(), { code: 'INVALID_SSH_KEY', message: /2 unexpected trailing bytes/ });
});

test('reads past the end, huge lengths and invalid UTF-8 are BulwarkErrors naming the input', () => {
  assert.throws(() => reader('000000').uint32(), { code: 'INVALID_SSH_KEY', message: /^the input is malformed/ });
  assert.throws(() => reader('00000000000000').uint64(), { code: 'INVALID_SSH_KEY' });
  assert.throws(() => reader('ffffffff00').string(), { code: 'INVALID_SSH_KEY', message: /needs 4294967295 bytes but only 1 remain/ });
  assert.throws(() => reader('00000002ff').string(), { code: 'INVALID_SSH_KEY' });
  assert.throws(() => reader('00000001ff').text(), { code: 'INVALID_SSH_KEY', message: /not valid UTF-8/ });
  assert.deepEqual(reader('00000003612c62').nameList(), ['a', 'b']);
  assert.throws(() => reader('00000002612c').nameList(), { code: 'INVALID_SSH_KEY' }); // …"a," is not
});

test('random bytes never crash the reader: every failure is a BulwarkError', () => {
  for (let i = 0; i < 2000; i++) {
    const r = new SshReader(randomBytes(i % 64), 'random');
    try {
      r.text();
      r.mpint();
      r.uint64();
      r.nameList();
      r.end();
    } catch (err) {
      assert.ok(err instanceof BulwarkError, String(err));
      assert.equal(err.code, 'INVALID_SSH_KEY');
    }
  }
});
