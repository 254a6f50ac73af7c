import { BulwarkError } from '../core/errors.js';
import type { CaMaterial } from './ca.js';
import { assertKeyMatchesCertificate, importSigningKey } from './keys.js';
import { x509, type CryptoKey } from './provider.js';

/** A CA ready to sign: parsed certificate, imported key, and its key identifier. */
export interface LoadedCa {
  cert: x509.X509Certificate;
  signingKey: CryptoKey;
  authorityKeyIdentifier: x509.AuthorityKeyIdentifierExtension;
}

const loaded = new WeakMap<CaMaterial, { certPem: string; keyPem: string; ready: Promise<LoadedCa> }>();

/**
 * Parses the CA and imports its key once per CA object: a server signs with the
 * same CA for its whole life, and parsing plus key import was a seventh of the
 * CPU of every join. The cached entry is used only while the PEMs are unchanged.
 */
export function loadCa(ca: CaMaterial): Promise<LoadedCa> {
  const hit = loaded.get(ca);
  if (hit && hit.certPem === ca.certPem && hit.keyPem === ca.keyPem) return hit.ready;
  const ready = parseCa(ca);
  loaded.set(ca, { certPem: ca.certPem, keyPem: ca.keyPem, ready });
  ready.catch(() => loaded.delete(ca));
  return ready;
}

async function parseCa(ca: CaMaterial): Promise<LoadedCa> {
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(ca.certPem);
  } catch {
    throw new BulwarkError('KEY_FILE_INVALID', 'the CA certificate cannot be parsed');
  }
  assertKeyMatchesCertificate(ca.keyPem, ca.certPem, 'the CA');
  const signingKey = await importSigningKey(ca.keyPem, 'the CA private key');
  // Reuse the CA's own subjectKeyIdentifier: verifiers match AKI to SKI byte for
  // byte, and a CA made elsewhere may have derived its SKI differently.
  const ski = cert.getExtension(x509.SubjectKeyIdentifierExtension);
  const authorityKeyIdentifier = ski
    ? new x509.AuthorityKeyIdentifierExtension(ski.keyId)
    : await x509.AuthorityKeyIdentifierExtension.create(cert.publicKey);
  return { cert, signingKey, authorityKeyIdentifier };
}
