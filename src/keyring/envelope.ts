import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { BulwarkError } from '../core/errors.js';
import type { Keyring } from './keyring.js';

/*
 * The key hierarchy: master key → versioned key-encryption keys (KEKs, stored
 * sealed under the master key) → one fresh data key per encryption. A record's
 * ciphertext carries its data key wrapped under a KEK, so rotating the KEK
 * re-wraps 48 bytes per record and never touches the payload.
 */

const VERSION = 'bwe1';
const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/** A KEK as stored: its version and its key sealed under the master key. */
export interface StoredKek {
  version: number;
  sealed: string;
}

/** Where a ciphertext belongs: a ciphertext opens only for the record, table and record version it was made for. */
export interface RecordBinding {
  table: string;
  id: string;
  version: number;
}

/** The associated data of a record: unambiguous whatever its parts contain. */
export function bindingContext(binding: RecordBinding): string {
  return JSON.stringify([binding.table, binding.id, binding.version]);
}

function kekContext(version: number): string {
  return `keyring:kek:${version}`;
}

/** Creates the key material of a new KEK version, sealed for storage. */
export function newKek(master: Keyring, version: number): StoredKek {
  const key = randomBytes(KEY_BYTES);
  const sealed = master.seal(key, kekContext(version));
  key.fill(0);
  return { version, sealed };
}

function gcmSeal(key: Buffer, plaintext: Uint8Array, aad: string): { nonce: Buffer; body: Buffer } {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  return { nonce, body: Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]) };
}

function gcmOpen(key: Buffer, nonce: Buffer, body: Buffer, aad: string): Buffer | undefined {
  if (nonce.length !== NONCE_BYTES || body.length < TAG_BYTES) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
    return Buffer.concat([decipher.update(body.subarray(0, body.length - TAG_BYTES)), decipher.final()]);
  } catch {
    return undefined;
  }
}

const b64 = (b: Buffer): string => b.toString('base64url');
function unb64(text: string | undefined): Buffer | undefined {
  if (text === undefined || !/^[A-Za-z0-9_-]*$/.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64url');
  return bytes.toString('base64url') === text ? bytes : undefined;
}

interface Parsed {
  kekVersion: number;
  wrapNonce: Buffer;
  wrapped: Buffer;
  nonce: Buffer;
  body: Buffer;
  /** The payload part as stored, kept verbatim by a re-wrap. */
  payload: string;
}

/**
 * Envelope encryption over a set of KEK versions, the newest active. Sealed form:
 * `bwe1.<kek version>.<wrap nonce>.<wrapped data key‖tag>.<nonce>.<ciphertext‖tag>`.
 */
export class KeyHierarchy {
  readonly #keks = new Map<number, Buffer>();
  readonly activeVersion: number;

  /** Opens every KEK with the master keyring; a KEK that does not open is a wrong master key or tampering. */
  constructor(master: Keyring, keks: readonly StoredKek[]) {
    if (keks.length === 0) throw new BulwarkError('INTERNAL', 'a key hierarchy needs at least one key-encryption key');
    for (const k of keks) this.#keks.set(k.version, master.open(k.sealed, kekContext(k.version)));
    this.activeVersion = Math.max(...keks.map((k) => k.version));
  }

  /** Overwrites the key-encryption keys in memory; the hierarchy is unusable afterwards. */
  dispose(): void {
    for (const key of this.#keks.values()) key.fill(0);
    this.#keks.clear();
  }

  get versions(): number[] {
    return [...this.#keks.keys()].sort((a, b) => a - b);
  }

  encrypt(plaintext: Uint8Array, binding: RecordBinding): string {
    const context = bindingContext(binding);
    const dataKey = randomBytes(KEY_BYTES);
    try {
      const payload = gcmSeal(dataKey, plaintext, `${VERSION}\0${context}`);
      return `${VERSION}.${this.activeVersion}.${this.#wrap(dataKey, this.activeVersion, context)}.${b64(payload.nonce)}.${b64(payload.body)}`;
    } finally {
      dataKey.fill(0);
    }
  }

  /** Throws DECRYPT_FAILED for a ciphertext of another record, a retired KEK, tampering or malformed input. */
  decrypt(sealed: string, binding: RecordBinding): Buffer {
    const context = bindingContext(binding);
    const parsed = this.#parse(sealed, context);
    const dataKey = this.#unwrap(parsed, context);
    try {
      const plaintext = gcmOpen(dataKey, parsed.nonce, parsed.body, `${VERSION}\0${context}`);
      if (!plaintext) throw new BulwarkError('DECRYPT_FAILED', `the value of ${context} does not authenticate: it was tampered with or belongs to another record`);
      return plaintext;
    } finally {
      dataKey.fill(0);
    }
  }

  /** The KEK version a ciphertext's data key is wrapped under (for a re-wrap sweep). */
  kekVersionOf(sealed: string): number | undefined {
    const version = Number(sealed.split('.')[1]);
    return sealed.startsWith(`${VERSION}.`) && Number.isInteger(version) ? version : undefined;
  }

  /**
   * Moves a ciphertext's data key to the active KEK; the payload is kept as it
   * is. Authenticates the data key (and so the binding) on the way.
   */
  rewrap(sealed: string, binding: RecordBinding): string {
    const context = bindingContext(binding);
    const parsed = this.#parse(sealed, context);
    if (parsed.kekVersion === this.activeVersion) return sealed;
    const dataKey = this.#unwrap(parsed, context);
    try {
      return `${VERSION}.${this.activeVersion}.${this.#wrap(dataKey, this.activeVersion, context)}.${parsed.payload}`;
    } finally {
      dataKey.fill(0);
    }
  }

  #wrap(dataKey: Buffer, version: number, context: string): string {
    const kek = this.#keks.get(version);
    if (!kek) throw new BulwarkError('INTERNAL', `no key-encryption key of version ${version}`);
    const wrapped = gcmSeal(kek, dataKey, `${VERSION}\0kek${version}\0${context}`);
    return `${b64(wrapped.nonce)}.${b64(wrapped.body)}`;
  }

  #unwrap(parsed: Parsed, context: string): Buffer {
    const kek = this.#keks.get(parsed.kekVersion);
    if (!kek) throw new BulwarkError('DECRYPT_FAILED', `the value of ${context} is wrapped under key version ${parsed.kekVersion}, which this keyring no longer holds`);
    const dataKey = gcmOpen(kek, parsed.wrapNonce, parsed.wrapped, `${VERSION}\0kek${parsed.kekVersion}\0${context}`);
    if (!dataKey || dataKey.length !== KEY_BYTES) {
      throw new BulwarkError('DECRYPT_FAILED', `the value of ${context} does not authenticate: it was tampered with or belongs to another record`);
    }
    return dataKey;
  }

  #parse(sealed: string, context: string): Parsed {
    const parts = typeof sealed === 'string' ? sealed.split('.') : [];
    const [version, kekText, wrapNonceText, wrappedText, nonceText, bodyText] = parts;
    const kekVersion = Number(kekText);
    const wrapNonce = unb64(wrapNonceText);
    const wrapped = unb64(wrappedText);
    const nonce = unb64(nonceText);
    const body = unb64(bodyText);
    if (parts.length !== 6 || version !== VERSION || !Number.isInteger(kekVersion) || !wrapNonce || !wrapped || !nonce || !body) {
      throw new BulwarkError('DECRYPT_FAILED', `the stored value of ${context} is malformed (expected ${VERSION}.<kek>.<nonce>.<key>.<nonce>.<ciphertext>)`);
    }
    return { kekVersion, wrapNonce, wrapped, nonce, body, payload: `${nonceText}.${bodyText}` };
  }
}
