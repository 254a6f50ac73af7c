import { randomBytes } from 'node:crypto';
import { link, lstat, open, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { BulwarkError } from '../core/errors.js';
import { fsyncDir, writeFileAtomic } from '../core/fs.js';

const HEADER = 'bulwark-master-key v1';
const KEY_BYTES = 32;
// A valid file is ~66 bytes; anything far larger is not ours and is not read whole.
const MAX_FILE_BYTES = 4096;

/**
 * Loads the master key, creating it on first use. Creation never replaces a key
 * that appeared meanwhile (another process starting at the same time): losing
 * the master key loses everything sealed under it.
 */
export async function loadOrCreateMasterKey(path: string): Promise<{ key: Buffer; created: boolean }> {
  if (await exists(path)) return { key: await loadMasterKey(path), created: false };
  const key = randomBytes(KEY_BYTES);
  // Written complete and fsynced under a temporary name, then hard-linked into
  // place: link(2) fails if the name exists, where rename(2) would overwrite.
  const staging = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.new`);
  await writeFileAtomic(staging, `${HEADER}\n${key.toString('base64')}\n`, 0o600);
  try {
    await link(staging, path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return { key: await loadMasterKey(path), created: false };
    throw err;
  } finally {
    await unlink(staging).catch(() => undefined);
  }
  await fsyncDir(dirname(path));
  return { key, created: true };
}

export async function loadMasterKey(path: string): Promise<Buffer> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new BulwarkError('KEY_FILE_INVALID', `master key file ${path} is missing; run \`bulwark server init\``);
    }
    throw new BulwarkError('KEY_FILE_INVALID', `master key file ${path} cannot be read: ${(err as Error).message}`);
  }
  let text: string;
  try {
    // Checked on the open handle, so the file judged is the file read.
    const stats = await handle.stat();
    if (!stats.isFile()) throw new BulwarkError('KEY_FILE_INVALID', `master key file ${path} is not a regular file`);
    if ((stats.mode & 0o077) !== 0) {
      const mode = (stats.mode & 0o777).toString(8).padStart(3, '0');
      throw new BulwarkError(
        'KEY_FILE_INVALID',
        `master key file ${path} is accessible by group or others (mode ${mode}); run \`chmod 600 ${path}\``,
      );
    }
    if (stats.size > MAX_FILE_BYTES) {
      throw new BulwarkError('KEY_FILE_INVALID', `master key file ${path} is not a Bulwark master key (too large)`);
    }
    text = await handle.readFile('utf8');
  } catch (err) {
    if (err instanceof BulwarkError) throw err;
    throw new BulwarkError('KEY_FILE_INVALID', `master key file ${path} cannot be read: ${(err as Error).message}`);
  } finally {
    await handle.close();
  }
  // Messages below describe the shape only: the content may be key material.
  const match = /^bulwark-master-key v1\r?\n([A-Za-z0-9+/]+={0,2})\r?\n?$/.exec(text);
  const encoded = match?.[1];
  if (encoded === undefined || encoded.length % 4 !== 0) {
    throw new BulwarkError('KEY_FILE_INVALID', `master key file ${path} is corrupted: expected "${HEADER}" and a base64 line`);
  }
  const key = Buffer.from(encoded, 'base64');
  if (key.length !== KEY_BYTES) {
    throw new BulwarkError('KEY_FILE_INVALID', `master key file ${path} holds a ${key.length}-byte key, expected ${KEY_BYTES}`);
  }
  return key;
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new BulwarkError('KEY_FILE_INVALID', `master key file ${path} cannot be read: ${(err as Error).message}`);
  }
}
