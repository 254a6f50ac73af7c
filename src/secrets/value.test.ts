import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { BulwarkError } from '../core/errors.js';
import { checkSecretValue, decodeSecretValue, encodeSecretValue, MAX_SECRET_VALUE_BYTES } from './value.js';

const refused = (code: string, pattern: RegExp, secret?: string) => (err: unknown) => {
  assert.ok(err instanceof BulwarkError, String(err));
  assert.equal(err.code, code);
  assert.match(err.message, pattern);
  if (secret !== undefined) assert.ok(!err.message.includes(secret), 'the value is not in the message');
  return true;
};

test('values round-trip through base64, binary-safe, up to 64 KiB', () => {
  for (const value of [Buffer.from([0]), Buffer.from([0xff, 0x00, 0x0a, 0x0d]), randomBytes(MAX_SECRET_VALUE_BYTES), Buffer.from('héllo\n')]) {
    assert.deepEqual(decodeSecretValue(encodeSecretValue(value)), value);
  }
  assert.equal(encodeSecretValue(new Uint8Array(Buffer.from('abc'))), 'YWJj');
});

test('empty, too large and non-base64 values are refused without echoing them', () => {
  assert.throws(() => checkSecretValue(Buffer.alloc(0)), refused('BAD_REQUEST', /empty/));
  assert.throws(() => decodeSecretValue(''), refused('BAD_REQUEST', /empty/));
  assert.throws(() => checkSecretValue(Buffer.alloc(MAX_SECRET_VALUE_BYTES + 1)), refused('PAYLOAD_TOO_LARGE', /65537 bytes; at most 65536/));
  assert.throws(() => decodeSecretValue(randomBytes(MAX_SECRET_VALUE_BYTES + 1).toString('base64')), refused('PAYLOAD_TOO_LARGE', /64 KiB/));
  assert.throws(() => decodeSecretValue('s3cr3t-marker!'), refused('BAD_REQUEST', /not standard base64/, 's3cr3t-marker'));
  assert.throws(() => decodeSecretValue('YWJj ZGVm'), refused('BAD_REQUEST', /not standard base64/));
  assert.throws(() => decodeSecretValue('YWJ'), refused('BAD_REQUEST', /not standard base64/), 'unpadded');
  assert.throws(() => decodeSecretValue('YW_j'), refused('BAD_REQUEST', /not standard base64/), 'base64url is not base64');
});
