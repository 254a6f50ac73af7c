import { readFile } from 'node:fs/promises';
import { BulwarkError } from '../core/errors.js';
import type { S3Credentials } from '../protocol/backup.js';

const NAMES: Record<string, keyof S3Credentials> = { aws_access_key_id: 'accessKeyId', aws_secret_access_key: 'secretAccessKey' };
/** Access keys and secrets are base64-like: anything else (a space, "#", a lone quote) is a mistake in the file, not part of the key. */
const VALUE = /^[A-Za-z0-9+/=_.:-]+$/;

/**
 * S3 access keys from a file in either usual spelling: an env file
 * (`AWS_ACCESS_KEY_ID=…`) or an AWS credentials file with one profile
 * (`aws_access_key_id = …`). Comments, blank lines, `[profile]` headers,
 * `export ` and quotes are allowed; a second value for a key is refused, so a
 * file with several profiles cannot pick one silently. Errors never quote a value.
 */
export function parseS3KeysFile(text: string, file: string): S3Credentials {
  const found: Partial<S3Credentials> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';') || /^\[[^\]]*\]$/.test(line)) continue;
    const match = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    const name = (match?.[1] ?? '').toLowerCase();
    // Temporary keys stop working without their token, which a policy cannot hold: every node would fail later.
    if (name === 'aws_session_token') throw new BulwarkError('BAD_REQUEST', `${file} holds a session token: temporary keys expire on the nodes; give long-lived keys limited to the bucket`);
    const field = NAMES[name];
    if (!match || !field) continue;
    const value = (match[2] as string).replace(/^(['"])(.*)\1$/, '$2');
    if (value !== '' && !VALUE.test(value)) throw new BulwarkError('BAD_REQUEST', `${file}: the value of ${name} has characters keys do not have (a comment or a stray quote on the line?)`);
    if (found[field] !== undefined) throw new BulwarkError('BAD_REQUEST', `${file} gives ${(match[1] as string).toLowerCase()} twice (several profiles?); keep one pair of keys in it`);
    if (value === '') throw new BulwarkError('BAD_REQUEST', `${file} gives ${(match[1] as string).toLowerCase()} without a value`);
    found[field] = value;
  }
  if (found.accessKeyId === undefined || found.secretAccessKey === undefined) {
    throw new BulwarkError('BAD_REQUEST', `${file} must hold AWS_ACCESS_KEY_ID=… and AWS_SECRET_ACCESS_KEY=… (or aws_access_key_id / aws_secret_access_key lines)`);
  }
  return { accessKeyId: found.accessKeyId, secretAccessKey: found.secretAccessKey };
}

export async function readS3KeysFile(file: string): Promise<S3Credentials> {
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new BulwarkError('BAD_REQUEST', `cannot read the S3 keys file ${file} (${err.code ?? 'error'})`);
  });
  return parseS3KeysFile(text, file);
}
