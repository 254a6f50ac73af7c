import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseS3KeysFile } from './s3-keys-file.js';

test('S3 keys are read from an env file or a one-profile AWS credentials file', () => {
  assert.deepEqual(parseS3KeysFile('# minio\nexport AWS_ACCESS_KEY_ID="AKIA1"\nAWS_SECRET_ACCESS_KEY=s3cr=et\nAWS_REGION=eu\n', 'k.env'), { accessKeyId: 'AKIA1', secretAccessKey: 's3cr=et' });
  assert.deepEqual(parseS3KeysFile('[default]\naws_access_key_id = AKIA2\r\naws_secret_access_key = abc\n', 'credentials'), { accessKeyId: 'AKIA2', secretAccessKey: 'abc' });
});

test('a file without both keys, with two profiles or an empty value is refused without quoting a value', () => {
  const refused = (text: string, why: RegExp): void =>
    assert.throws(() => parseS3KeysFile(text, 'k.env'), (err: Error & { code?: string }) => err.code === 'BAD_REQUEST' && why.test(err.message) && !err.message.includes('hunter2'));
  refused('AWS_ACCESS_KEY_ID=hunter2\n', /must hold AWS_ACCESS_KEY_ID/);
  refused('[a]\naws_access_key_id=x\naws_secret_access_key=hunter2\n[b]\naws_access_key_id=y\naws_secret_access_key=z\n', /twice/);
  refused('AWS_ACCESS_KEY_ID=\nAWS_SECRET_ACCESS_KEY=hunter2\n', /without a value/);
  refused('AWS_ACCESS_KEY_ID=ASIAX\nAWS_SECRET_ACCESS_KEY=hunter2\nAWS_SESSION_TOKEN=hunter2\n', /session token/);
  refused('AWS_ACCESS_KEY_ID=AKIA # mine\nAWS_SECRET_ACCESS_KEY=hunter2\n', /a comment or a stray quote/);
  refused('AWS_ACCESS_KEY_ID=AKIA\nAWS_SECRET_ACCESS_KEY="hunter2\n', /a comment or a stray quote/);
});
