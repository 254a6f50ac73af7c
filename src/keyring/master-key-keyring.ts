import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { BulwarkError } from '../core/errors.js';
import type { Keyring } from './keyring.js';

const VERSION = 'bwk1';
const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

export function masterKeyId(key: Uint8Array): string {
  return createHash('sha256').update('bulwark-key-id').update(key).digest('hex').slice(0, 16);
}

/**
 * AES-256-GCM under one master key. Sealed form: `bwk1.<keyId>.<nonce>.<ciphertext‖tag>`
 * (base64url). Random 96-bit nonces are safe for far more seals than a cluster
 * makes under one key (the 2^32 bound); rotation is the later keyring's job.
 */
export class MasterKeyKeyring implements Keyring {
  readonly keyId: string;
  readonly #key: Buffer;

  constructor(key: Uint8Array) {
    if (key.length !== KEY_BYTES) {
      throw new BulwarkError('KEY_FILE_INVALID', `a master key must be ${KEY_BYTES} bytes, not ${key.length}`);
    }
    this.#key = Buffer.from(key);
    this.keyId = masterKeyId(this.#key);
  }

  /** Overwrites the key in memory (seal, rekey); nothing opens or seals afterwards. */
  dispose(): void {
    this.#key.fill(0);
  }

  seal(plaintext: Uint8Array, context: string): string {
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#key, nonce, { authTagLength: TAG_BYTES });
    cipher.setAAD(this.#aad(context));
    const body = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
    return `${VERSION}.${this.keyId}.${nonce.toString('base64url')}.${body.toString('base64url')}`;
  }

  open(sealed: string, context: string): Buffer {
    const parts = typeof sealed === 'string' ? sealed.split('.') : [];
    const [version, keyId, nonceText, bodyText] = parts;
    if (parts.length !== 4 || version !== VERSION || keyId === undefined || nonceText === undefined || bodyText === undefined) {
      throw new BulwarkError('DECRYPT_FAILED', `sealed value for "${context}" is malformed (expected ${VERSION}.<keyId>.<nonce>.<ciphertext>)`);
    }
    if (keyId !== this.keyId) {
      throw new BulwarkError(
        'DECRYPT_FAILED',
        `sealed value for "${context}" was sealed under key ${keyId.slice(0, 16)}, but this keyring holds key ${this.keyId}: wrong master key?`,
      );
    }
    const nonce = decodeBase64url(nonceText);
    const body = decodeBase64url(bodyText);
    if (nonce?.length !== NONCE_BYTES || body === undefined || body.length < TAG_BYTES) {
      throw new BulwarkError('DECRYPT_FAILED', `sealed value for "${context}" is malformed`);
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, nonce, { authTagLength: TAG_BYTES });
      decipher.setAAD(this.#aad(context));
      decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
      return Buffer.concat([decipher.update(body.subarray(0, body.length - TAG_BYTES)), decipher.final()]);
    } catch {
      throw new BulwarkError(
        'DECRYPT_FAILED',
        `sealed value for "${context}" does not authenticate: it was tampered with or sealed for another record`,
      );
    }
  }

  // Version and keyId are fixed-width and NUL cannot occur in them, so the
  // concatenation is unambiguous whatever the context holds.
  #aad(context: string): Buffer {
    return Buffer.from(`${VERSION}\0${this.keyId}\0${context}`, 'utf8');
  }
}

/** Strict: Buffer.from(…, 'base64url') skips invalid characters silently. */
function decodeBase64url(text: string): Buffer | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64url');
  return bytes.toString('base64url') === text ? bytes : undefined;
}
