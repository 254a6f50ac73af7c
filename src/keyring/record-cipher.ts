import { randomBytes } from 'node:crypto';
import { KeyHierarchy, newKek, type RecordBinding } from './envelope.js';
import { MasterKeyKeyring } from './master-key-keyring.js';

export type { RecordBinding } from './envelope.js';

/**
 * What services use to keep a value at rest: envelope encryption bound to the
 * record the value belongs to (its table, id and version). `encrypt` is async
 * because each key version counts its encryptions in the database.
 */
export interface RecordCipher {
  encrypt(plaintext: Uint8Array, binding: RecordBinding): Promise<string>;
  /**
   * Throws DECRYPT_FAILED for another record's ciphertext, tampering, or a retired
   * key version. Async because a value may be under a key version another replica
   * made a moment ago, which this one then loads.
   */
  decrypt(sealed: string, binding: RecordBinding): Promise<Buffer>;
}

/**
 * A RecordCipher over a fixed set of key versions, without encryption counting:
 * for offline tools and tests that work on a copy of the keys.
 */
export function fixedCipher(hierarchy: KeyHierarchy): RecordCipher {
  return {
    encrypt: async (plaintext, binding) => hierarchy.encrypt(plaintext, binding),
    decrypt: async (sealed, binding) => hierarchy.decrypt(sealed, binding),
  };
}

/** A cipher under a fresh key that lives only in memory (tests, benchmarks). */
export function ephemeralCipher(): RecordCipher {
  const master = new MasterKeyKeyring(randomBytes(32));
  return fixedCipher(new KeyHierarchy(master, [newKek(master, 1)]));
}
