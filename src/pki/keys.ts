import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { BulwarkError } from '../core/errors.js';
import { EC_KEY_ALGORITHM, subtle, type CryptoKey } from './provider.js';
import { decodePem, encodePem } from './pem.js';

export interface KeyPairPem {
  /** PKCS#8 "PRIVATE KEY". */
  keyPem: string;
  /** SPKI "PUBLIC KEY". */
  publicKeyPem: string;
}

export async function generateKeyPair(): Promise<KeyPairPem> {
  return exportKeyPair(await generateCryptoKeyPair());
}

export interface EcKeyPair {
  privateKey: CryptoKey;
  publicKey: CryptoKey;
}

export async function generateCryptoKeyPair(): Promise<EcKeyPair> {
  return subtle.generateKey(EC_KEY_ALGORITHM, true, ['sign', 'verify']);
}

export async function exportKeyPair(keys: EcKeyPair): Promise<KeyPairPem> {
  const pkcs8 = await subtle.exportKey('pkcs8', keys.privateKey);
  const spki = await subtle.exportKey('spki', keys.publicKey);
  return { keyPem: encodePem(pkcs8, 'PRIVATE KEY'), publicKeyPem: encodePem(spki, 'PUBLIC KEY') };
}

export async function importSigningKey(keyPem: string, what: string): Promise<CryptoKey> {
  const der = decodePem(keyPem, 'PRIVATE KEY', 'KEY_FILE_INVALID', what);
  try {
    return await subtle.importKey('pkcs8', der, EC_KEY_ALGORITHM, false, ['sign']);
  } catch {
    throw new BulwarkError('KEY_FILE_INVALID', `${what} is not a PKCS#8 ECDSA P-256 private key`);
  }
}

/**
 * A CA whose key does not belong to its certificate would issue certificates that
 * fail verification only later, far from the cause; checking here names the cause.
 */
export function assertKeyMatchesCertificate(keyPem: string, certPem: string, what: string): void {
  let matches = false;
  try {
    const fromKey = createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' });
    const fromCert = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
    matches = fromKey.equals(fromCert);
  } catch {
    matches = false;
  }
  if (!matches) throw new BulwarkError('KEY_FILE_INVALID', `${what}: the private key does not belong to the certificate`);
}
