import { createHash, timingSafeEqual, X509Certificate } from 'node:crypto';
import { BulwarkError } from '../core/errors.js';

const PIN = /^sha256:([0-9a-f]{64})$/i;

/**
 * `sha256:` + hex SHA-256 of the CA's SubjectPublicKeyInfo, as kubeadm's
 * discovery-token-ca-cert-hash: it pins the key, so a re-issued CA certificate
 * with the same key keeps the pin.
 */
export function caPin(cert: string | Uint8Array): string {
  return `sha256:${spkiDigest(cert).toString('hex')}`;
}

export function parsePin(text: string): string {
  const match = PIN.exec(text.trim());
  if (!match?.[1]) {
    throw new BulwarkError('INVALID_PIN', 'the CA pin must be of the form sha256:<64 hex digits>, as printed by `bulwark server init`');
  }
  return `sha256:${match[1].toLowerCase()}`;
}

/** Throws INVALID_PIN for a malformed pin: a typo should not read as "wrong CA". */
export function pinMatches(pin: string, cert: string | Uint8Array): boolean {
  const expected = Buffer.from(parsePin(pin).slice('sha256:'.length), 'hex');
  let actual: Buffer;
  try {
    actual = spkiDigest(cert);
  } catch {
    return false;
  }
  return timingSafeEqual(expected, actual);
}

function spkiDigest(cert: string | Uint8Array): Buffer {
  let parsed: X509Certificate;
  try {
    parsed = new X509Certificate(typeof cert === 'string' ? cert : Buffer.from(cert));
  } catch {
    throw new BulwarkError('BAD_REQUEST', 'the CA certificate cannot be parsed');
  }
  const spki = parsed.publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest();
}
