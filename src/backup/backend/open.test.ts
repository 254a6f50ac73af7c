import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join, resolve } from 'node:path';
import { openBackend, parseRepositoryUrl } from './open.js';
import { LocalBackend } from './local.js';
import { S3Backend } from './s3.js';

test('s3:// locations give the bucket and the prefix without slashes at its ends', () => {
  assert.deepEqual(parseRepositoryUrl('s3://backups/a/b'), { kind: 's3', bucket: 'backups', prefix: 'a/b' });
  assert.deepEqual(parseRepositoryUrl('s3://backups/a/b/'), { kind: 's3', bucket: 'backups', prefix: 'a/b' });
  assert.deepEqual(parseRepositoryUrl('s3://backups'), { kind: 's3', bucket: 'backups', prefix: '' });
  assert.deepEqual(parseRepositoryUrl('s3://backups/'), { kind: 's3', bucket: 'backups', prefix: '' });
  assert.deepEqual(parseRepositoryUrl('S3://my.bucket-01/x'), { kind: 's3', bucket: 'my.bucket-01', prefix: 'x' });
});

test('a bucket name outside 3 to 63 lowercase letters, digits, dots and hyphens is BAD_REQUEST', () => {
  for (const url of ['s3://', 's3://ab', `s3://${'a'.repeat(64)}`, 's3://Upper', 's3://under_score/x', 's3:///prefix']) {
    assert.throws(() => parseRepositoryUrl(url), { code: 'BAD_REQUEST', message: /not an S3 bucket name/ }, url);
  }
  assert.equal(parseRepositoryUrl(`s3://${'a'.repeat(63)}`).kind, 's3');
});

test('a plain path is made absolute', () => {
  assert.deepEqual(parseRepositoryUrl('/srv/backups/r1'), { kind: 'local', path: '/srv/backups/r1' });
  assert.deepEqual(parseRepositoryUrl('relative/repo'), { kind: 'local', path: resolve('relative/repo') });
  assert.deepEqual(parseRepositoryUrl('./backup:2024'), { kind: 'local', path: resolve('backup:2024') });
});

test('an empty location, s3: without slashes and other schemes are BAD_REQUEST', () => {
  assert.throws(() => parseRepositoryUrl(''), { code: 'BAD_REQUEST', message: /empty/ });
  assert.throws(() => parseRepositoryUrl('   '), { code: 'BAD_REQUEST', message: /empty/ });
  assert.throws(() => parseRepositoryUrl('s3:bucket/prefix'), { code: 'BAD_REQUEST', message: /s3:\/\/bucket\/prefix/ });
  assert.throws(() => parseRepositoryUrl('sftp://host/path'), { code: 'BAD_REQUEST', message: /sftp:\/\/ locations are not supported/ });
});

test('openBackend picks the backend the location names', async () => {
  const local = openBackend('/srv/backups/r1');
  assert.ok(local instanceof LocalBackend);
  assert.equal(local.location, join('/srv', 'backups', 'r1'));
  const s3 = openBackend('s3://backups/hosts/web1/', { s3Endpoint: 'http://127.0.0.1:9000' });
  // The S3 backend loads the AWS SDK on first use only.
  assert.ok(!(s3 instanceof LocalBackend));
  assert.ok(!(s3 instanceof S3Backend));
  assert.equal(s3.location, 's3://backups/hosts/web1');
  await s3.close();
});

test('openBackend takes the S3 endpoint from AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL', async () => {
  const saved = { s3: process.env.AWS_ENDPOINT_URL_S3, any: process.env.AWS_ENDPOINT_URL };
  try {
    // An invalid endpoint is refused at construction, which shows which variable was read.
    process.env.AWS_ENDPOINT_URL_S3 = 'not a url';
    process.env.AWS_ENDPOINT_URL = 'http://127.0.0.1:9000';
    assert.throws(() => openBackend('s3://backups/x'), { code: 'BAD_REQUEST', message: /endpoint/ });
    delete process.env.AWS_ENDPOINT_URL_S3;
    process.env.AWS_ENDPOINT_URL = 'also not a url';
    assert.throws(() => openBackend('s3://backups/x'), { code: 'BAD_REQUEST', message: /endpoint/ });
    const explicit = openBackend('s3://backups/x', { s3Endpoint: 'http://127.0.0.1:9000' });
    await explicit.close();
  } finally {
    restore('AWS_ENDPOINT_URL_S3', saved.s3);
    restore('AWS_ENDPOINT_URL', saved.any);
  }
});

function restore(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}
