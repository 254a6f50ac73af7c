/**
 * Seals small secrets (private keys, tokens) for storage. Kept an interface so a
 * later keyring with key rotation or Shamir unseal can stand in unchanged.
 */
export interface Keyring {
  /** Identifies the key a ciphertext was sealed under; safe to log. */
  readonly keyId: string;
  /**
   * `context` names where the ciphertext will be stored (e.g. `cluster_state:ca.key`)
   * and must be given again to open it, so ciphertexts swapped between records fail.
   */
  seal(plaintext: Uint8Array, context: string): string;
  /** Throws BulwarkError DECRYPT_FAILED on a wrong key, wrong context, tampering or malformed input. */
  open(sealed: string, context: string): Buffer;
}
