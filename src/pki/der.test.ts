import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { createRootCa } from './ca.js';
import { bitString, certificateSubject, children, explicit, integer, integerFromHex, oid, readElement, sequence, sequenceOf, time, tlv } from './der.js';
import { x509 } from './provider.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

test('INTEGERs are minimal and positive', () => {
  assert.equal(hex(integerFromHex('0')), '020100');
  assert.equal(hex(integerFromHex('')), '020100');
  assert.equal(hex(integerFromHex('1')), '020101');
  assert.equal(hex(integerFromHex('7f')), '02017f');
  assert.equal(hex(integerFromHex('80')), '02020080');
  assert.equal(hex(integerFromHex('ff01')), '020300ff01');
  assert.equal(hex(integerFromHex('000abc')), '02020abc');
  assert.equal(hex(integerFromHex('ABC')), '02020abc');
  assert.equal(hex(integer(1)), '020101');
  assert.equal(hex(integer(256)), '02020100');
  assert.equal(hex(integer(2 ** 40)), '0206010000000000');
  assert.throws(() => integerFromHex('xyz'));
  assert.throws(() => integer(-1));
  assert.throws(() => integer(0.5));
});

test('lengths use the short form below 128 and the long form from 128', () => {
  assert.equal(hex(tlv(0x04, Buffer.alloc(127)).subarray(0, 2)), '047f');
  assert.equal(hex(tlv(0x04, Buffer.alloc(128)).subarray(0, 3)), '048180');
  assert.equal(hex(tlv(0x04, Buffer.alloc(255)).subarray(0, 3)), '0481ff');
  assert.equal(hex(tlv(0x04, Buffer.alloc(256)).subarray(0, 4)), '04820100');
  assert.equal(hex(tlv(0x04, Buffer.alloc(70_000)).subarray(0, 5)), '0483011170');
  assert.equal(tlv(0x04, Buffer.alloc(70_000)).length, 70_005);
  assert.equal(hex(sequence()), '3000');
  assert.equal(hex(sequenceOf([integer(1), integer(2)])), '3006020101020102');
  assert.equal(hex(explicit(0, integer(5))), 'a003020105');
  assert.equal(hex(bitString(Buffer.from([0xab]))), '030200ab');
});

test('OBJECT IDENTIFIERs', () => {
  assert.equal(hex(oid('1.2.840.10045.4.3.2')), '06082a8648ce3d040302');
  assert.equal(hex(oid('2.5.29.20')), '0603551d14');
  assert.equal(hex(oid('2.5.29.35')), '0603551d23');
  assert.throws(() => oid('1'));
  assert.throws(() => oid('1.40'));
  assert.throws(() => oid('1.2.x'));
});

test('times: UTCTime through 2049, GeneralizedTime from 2050, whole seconds', () => {
  assert.equal(Buffer.from(time(Date.UTC(2026, 0, 2, 3, 4, 5, 678))).toString('latin1'), '\x17\x0d260102030405Z');
  assert.equal(Buffer.from(time(Date.UTC(1999, 11, 31, 23, 59, 59))).toString('latin1'), '\x17\x0d991231235959Z');
  assert.equal(Buffer.from(time(Date.UTC(2049, 11, 31, 23, 59, 59))).toString('latin1'), '\x17\x0d491231235959Z');
  assert.equal(Buffer.from(time(Date.UTC(2050, 0, 1))).toString('latin1'), '\x18\x0f20500101000000Z');
  assert.throws(() => time(Date.UTC(1949, 0, 1)));
  assert.throws(() => time(Number.NaN));
});

test('the reader walks what the writer wrote and refuses truncated input', () => {
  const der = sequence(integer(1), sequenceOf([integerFromHex('ff01')]), tlv(0x04, Buffer.alloc(300)));
  const top = readElement(der, 0);
  assert.equal(top.end, der.length);
  assert.deepEqual(
    children(der, top).map((c) => c.tag),
    [0x02, 0x30, 0x04],
  );
  assert.throws(() => readElement(der.subarray(0, der.length - 1), 0), RangeError);
  assert.throws(() => readElement(Buffer.from([0x30]), 0), RangeError);
  assert.throws(() => readElement(Buffer.from([0x30, 0x85, 1, 1, 1, 1, 1]), 0), RangeError);
});

test('certificateSubject returns the subject bytes of a certificate', async () => {
  const now = Date.now();
  const ca = await createRootCa({ clusterName: 'a, b=c', notBefore: now, notAfter: now + 86_400_000 });
  const subject = certificateSubject(new X509Certificate(ca.certPem).raw);
  const expected = Buffer.from(new x509.X509Certificate(ca.certPem).subjectName.toArrayBuffer());
  assert.deepEqual(subject, expected);
  assert.throws(() => certificateSubject(Buffer.from('3000', 'hex')), RangeError);
});
