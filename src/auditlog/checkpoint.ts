import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { BulwarkError } from '../core/errors.js';

/** The cluster's Ed25519 audit signing key. */
export interface AuditKey {
  privateKeyPem: string;
  publicKeyPem: string;
  /** First 16 hex digits of SHA-256 of the raw 32-byte public key. */
  keyId: string;
}

/** A signed statement "after entry `seq` the chain's hash was `hash`". */
export interface SignedCheckpoint {
  seq: number;
  hash: string;
  /** Ed25519 signature, base64. */
  signature: string;
  keyId: string;
}

// Domain separation: a signature made for a checkpoint can never be taken for a
// signature over anything else the cluster signs with Ed25519.
const DOMAIN = 'bulwark-audit-checkpoint-v1';

/** The exact bytes signed for `(seq, hash)`. */
export function checkpointMessage(cp: { seq: number; hash: string }): Buffer {
  return Buffer.from(`${DOMAIN}\n${cp.seq}\n${cp.hash}`, 'utf8');
}

function rawPublicKey(key: KeyObject): Buffer {
  const jwk = key.export({ format: 'jwk' });
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') throw new BulwarkError('INTERNAL', 'the audit key is not an Ed25519 key');
  return Buffer.from(jwk.x, 'base64url');
}

/** The key id of a public key PEM: first 16 hex digits of SHA-256 of its raw 32 bytes. */
export function auditKeyId(publicKeyPem: string | KeyObject): string {
  const key = typeof publicKeyPem === 'string' ? createPublicKey(publicKeyPem) : publicKeyPem;
  return createHash('sha256').update(rawPublicKey(key)).digest('hex').slice(0, 16);
}

/** A fresh Ed25519 key pair for signing audit checkpoints. */
export function generateAuditKey(): AuditKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    publicKeyPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    keyId: auditKeyId(publicKey),
  };
}

/** The public key PEM that belongs to a private key PEM. */
export function auditPublicKeyPem(privateKeyPem: string): string {
  return createPublicKey(createPrivateKey(privateKeyPem)).export({ format: 'pem', type: 'spki' }).toString();
}

/**
 * Signs `(seq, hash)`; returns the base64 signature. Takes a PEM or, on hot
 * paths, a parsed `KeyObject` so the PEM is not parsed at every append.
 */
export function signCheckpoint(privateKey: string | KeyObject, cp: { seq: number; hash: string }): string {
  return sign(null, checkpointMessage(cp), privateKey).toString('base64');
}

/** True iff `cp.signature` is a valid signature of `(cp.seq, cp.hash)` by the key. Never throws on a malformed signature. */
export function verifyCheckpoint(publicKey: string | KeyObject, cp: { seq: number; hash: string; signature: string }): boolean {
  if (!/^[A-Za-z0-9+/]{86}==$/.test(cp.signature)) return false;
  try {
    return verify(null, checkpointMessage(cp), publicKey, Buffer.from(cp.signature, 'base64'));
  } catch {
    return false;
  }
}
