import { BulwarkError } from '../core/errors.js';
import { EC_KEY_ALGORITHM, SIGNING_ALGORITHM, x509, type CryptoKey } from './provider.js';
import { exportKeyPair, generateCryptoKeyPair } from './keys.js';
import { decodePem } from './pem.js';

const CSR_LABEL = 'CERTIFICATE REQUEST';

/** Agent side: the private key is created here and never leaves the node. */
export async function createCsr(opts: { commonName: string }): Promise<{ csrPem: string; keyPem: string }> {
  const keys = await generateCryptoKeyPair();
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: [{ CN: [opts.commonName] }],
    keys,
    signingAlgorithm: SIGNING_ALGORITHM,
  });
  const { keyPem } = await exportKeyPair(keys);
  return { csrPem: `${x509.PemConverter.encode(csr.rawData, CSR_LABEL)}\n`, keyPem };
}

/**
 * Parses a CSR and proves its sender holds the private key (the self-signature).
 * Nothing else in the CSR is trusted: the issuer decides the identity.
 */
export async function parseVerifiedCsr(csrPem: string): Promise<x509.Pkcs10CertificateRequest> {
  const der = decodePem(csrPem, CSR_LABEL, 'INVALID_CSR', 'the certificate signing request');
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(der);
  } catch {
    throw new BulwarkError('INVALID_CSR', 'the certificate signing request is not valid DER (PKCS#10)');
  }
  const algorithm = csr.publicKey.algorithm as { name?: string; namedCurve?: string };
  if (algorithm.name !== 'ECDSA' || algorithm.namedCurve !== 'P-256') {
    throw new BulwarkError('INVALID_CSR', 'the certificate signing request must carry an ECDSA P-256 public key');
  }
  let valid = false;
  try {
    valid = await csr.verify();
  } catch {
    valid = false;
  }
  if (!valid) throw new BulwarkError('INVALID_CSR', 'the certificate signing request signature does not verify');
  return csr;
}

/** Returns the CSR's public key once its signature has been checked. */
export async function verifyCsr(csrPem: string): Promise<CryptoKey> {
  const csr = await parseVerifiedCsr(csrPem);
  try {
    return await csr.publicKey.export(EC_KEY_ALGORITHM, ['verify']);
  } catch {
    throw new BulwarkError('INVALID_CSR', 'the certificate signing request public key cannot be imported');
  }
}
