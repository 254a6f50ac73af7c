import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bitString, explicit, oid, sequence, tlv } from '../../pki/der.js';
import { signatureAlgorithm } from './signature-algorithm.js';

const NULL = tlv(0x05);

/** Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signature }, with an empty TBS: only the algorithm is read. */
function certWith(algorithm: Buffer): Buffer {
  return sequence(sequence(), algorithm, bitString(Buffer.from([1, 2, 3])));
}

test('reads the signature algorithm and its digest from the DER', () => {
  assert.deepEqual(signatureAlgorithm(certWith(sequence(oid('1.2.840.113549.1.1.4'), NULL))), { name: 'md5WithRSAEncryption', hash: 'MD5' });
  assert.deepEqual(signatureAlgorithm(certWith(sequence(oid('1.2.840.113549.1.1.5'), NULL))), { name: 'sha1WithRSAEncryption', hash: 'SHA-1' });
  assert.deepEqual(signatureAlgorithm(certWith(sequence(oid('1.2.840.10045.4.3.3')))), { name: 'ecdsa-with-SHA384', hash: 'SHA-384' });
  assert.deepEqual(signatureAlgorithm(certWith(sequence(oid('1.3.101.112')))), { name: 'ED25519', hash: 'SHA-512' });
  assert.deepEqual(signatureAlgorithm(certWith(sequence(oid('1.2.3.4.99999')))), { name: '1.2.3.4.99999' });
});

test('RSASSA-PSS takes its digest from the parameters, SHA-1 when they are absent (RFC 4055)', () => {
  const pss = '1.2.840.113549.1.1.10';
  const sha256 = sequence(oid('2.16.840.1.101.3.4.2.1'), NULL);
  assert.deepEqual(signatureAlgorithm(certWith(sequence(oid(pss), sequence(explicit(0, sha256))))), { name: 'rsassaPss', hash: 'SHA-256' });
  assert.deepEqual(signatureAlgorithm(certWith(sequence(oid(pss), sequence()))), { name: 'rsassaPss', hash: 'SHA-1' });
  assert.deepEqual(signatureAlgorithm(certWith(sequence(oid(pss)))), { name: 'rsassaPss', hash: 'SHA-1' });
});

test('DER that is not a certificate is refused', () => {
  assert.throws(() => signatureAlgorithm(Buffer.from([0x02, 0x01, 0x00])), RangeError);
  assert.throws(() => signatureAlgorithm(sequence(sequence())), RangeError);
  assert.throws(() => signatureAlgorithm(Buffer.from([0x30, 0x05, 0x30])), RangeError);
});
