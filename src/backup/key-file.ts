import { hkdf, randomBytes, scrypt, type ScryptOptions } from 'node:crypto';
import { canonicalJson } from '../core/canonical-json.js';
import { BulwarkError } from '../core/errors.js';
import { open, seal } from './crypto.js';

/**
 * How a person or machine proves it may open a repository. Each key file in
 * `keys/` wraps the same repository keys under its own secret:
 * - a password, stretched with scrypt (cost and salt stored, authenticated);
 * - a key file of at least 32 random bytes, expanded with HKDF (it is already
 *   strong, so stretching would only slow every command down).
 * Adding a key needs an open repository; removing one never touches the data.
 */
export type Credential = { kind: 'password'; password: string } | { kind: 'key-file'; bytes: Buffer };

export interface ScryptCost {
  log2N: number;
  r: number;
  p: number;
}

/**
 * N = 2^15, r = 8, p = 4: as much work as N = 2^17 with p = 1 (about half a
 * second here) in a quarter of the memory (32 MiB), so a backup on a small
 * machine does not start by claiming 128 MiB.
 */
export const DEFAULT_SCRYPT_COST: ScryptCost = { log2N: 15, r: 8, p: 4 };
/** Bounds on a stored cost: a tampered key file can neither make opening trivial nor take long or much memory (at most 256 MiB). */
const MIN_LOG2N = 15;
const MAX_LOG2N = 18;
const MAX_R = 8;
const MAX_P = 4;
export const MIN_PASSWORD_CHARS = 8;
export const MIN_KEY_FILE_BYTES = 32;

export interface KeyFileHeader {
  v: 1;
  kdf: 'scrypt' | 'hkdf';
  log2N?: number;
  r?: number;
  p?: number;
  salt: string;
  created: string;
  host: string;
  user: string;
}

export interface KeyFileJson extends KeyFileHeader {
  /** The repository keys sealed under the derived key (base64). */
  data: string;
}

function checkCost(cost: ScryptCost): void {
  const ok = Number.isInteger(cost.log2N) && cost.log2N >= MIN_LOG2N && cost.log2N <= MAX_LOG2N && Number.isInteger(cost.r) && cost.r >= 1 && cost.r <= MAX_R && Number.isInteger(cost.p) && cost.p >= 1 && cost.p <= MAX_P;
  if (!ok) throw new BulwarkError('REPOSITORY_DAMAGED', `a key file asks for scrypt N=2^${cost.log2N}, r=${cost.r}, p=${cost.p}, outside what Bulwark accepts (N 2^${MIN_LOG2N}–2^${MAX_LOG2N}, r 1–${MAX_R}, p 1–${MAX_P})`);
}

/** scrypt of an NFC-normalised password into 32 bytes (memory allowed: exactly what the cost needs, twice). */
export function scryptKey(password: string, salt: Buffer, cost: ScryptCost): Promise<Buffer> {
  const options: ScryptOptions = { N: 2 ** cost.log2N, r: cost.r, p: cost.p, maxmem: 2 ** cost.log2N * 128 * cost.r * 2 };
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFC'), salt, 32, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

function hkdfKey(bytes: Buffer, salt: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    hkdf('sha256', bytes, salt, 'bulwark-backup-v1:key-file', 32, (err, key) => (err ? reject(err) : resolve(Buffer.from(key))));
  });
}

function deriveKey(credential: Credential, header: KeyFileHeader): Promise<Buffer> {
  const salt = Buffer.from(header.salt, 'base64');
  if (header.kdf === 'hkdf') {
    if (credential.kind !== 'key-file') return Promise.resolve(randomBytes(32)); // a password never opens a key-file key
    return hkdfKey(credential.bytes, salt);
  }
  if (credential.kind !== 'password') return Promise.resolve(randomBytes(32));
  const cost = { log2N: header.log2N ?? 0, r: header.r ?? 0, p: header.p ?? 0 };
  checkCost(cost);
  return scryptKey(credential.password, salt, cost);
}

export function checkNewCredential(credential: Credential): void {
  if (credential.kind === 'password' && [...credential.password.normalize('NFC')].length < MIN_PASSWORD_CHARS) {
    throw new BulwarkError('BAD_REQUEST', `a repository password needs at least ${MIN_PASSWORD_CHARS} characters`);
  }
  if (credential.kind === 'key-file' && credential.bytes.length < MIN_KEY_FILE_BYTES) {
    throw new BulwarkError('BAD_REQUEST', `a key file needs at least ${MIN_KEY_FILE_BYTES} bytes (make one with: head -c 64 /dev/urandom > repo.key)`);
  }
}

/** Wraps the repository key material (as encoded by encodeRepositoryKeys) under a new credential. */
export async function wrapRepositoryKeys(material: Buffer, credential: Credential, meta: { host: string; user: string; now: Date }, cost: ScryptCost = DEFAULT_SCRYPT_COST): Promise<KeyFileJson> {
  checkNewCredential(credential);
  const header: KeyFileHeader =
    credential.kind === 'password'
      ? { v: 1, kdf: 'scrypt', ...cost, salt: randomBytes(16).toString('base64'), created: meta.now.toISOString(), host: meta.host, user: meta.user }
      : { v: 1, kdf: 'hkdf', salt: randomBytes(16).toString('base64'), created: meta.now.toISOString(), host: meta.host, user: meta.user };
  if (header.kdf === 'scrypt') checkCost(cost);
  const key = await deriveKey(credential, header);
  try {
    // Everything but the sealed data is authenticated with it: a lowered cost or a changed salt fails to open.
    return { ...header, data: seal(key, material, Buffer.from(canonicalJson(header))).toString('base64') };
  } finally {
    key.fill(0);
  }
}

export function parseKeyFile(bytes: Buffer, name: string): KeyFileJson {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new BulwarkError('REPOSITORY_DAMAGED', `key ${name} is not valid JSON`);
  }
  const k = json as Partial<KeyFileJson>;
  const ok = k !== null && typeof k === 'object' && k.v === 1 && (k.kdf === 'scrypt' || k.kdf === 'hkdf') && typeof k.salt === 'string' && typeof k.data === 'string' && typeof k.created === 'string' && typeof k.host === 'string' && typeof k.user === 'string';
  if (!ok) throw new BulwarkError('REPOSITORY_DAMAGED', `key ${name} is not a Bulwark repository key`);
  return k as KeyFileJson;
}

/** The key material if this credential opens this key file; undefined when it does not (wrong password or another kind). */
export async function unwrapRepositoryKeys(file: KeyFileJson, credential: Credential): Promise<Buffer | undefined> {
  const { data, ...header } = file;
  const key = await deriveKey(credential, header);
  try {
    return open(key, Buffer.from(data, 'base64'), Buffer.from(canonicalJson(header)), 'key');
  } catch {
    return undefined;
  } finally {
    key.fill(0);
  }
}

