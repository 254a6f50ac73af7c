import { isIP } from 'node:net';
import { BulwarkError } from '../core/errors.js';
import { newSerial } from '../core/ids.js';
import { encodeCertificate, type CaMaterial } from './ca.js';
import { parseVerifiedCsr } from './csr.js';
import { certificateFingerprint, nodeSpiffeId } from './identity.js';
import { loadCa, type LoadedCa } from './issuer.js';
import { exportKeyPair, generateCryptoKeyPair } from './keys.js';
import { serialToHex } from './pem.js';
import { EC_KEY_ALGORITHM, SIGNING_ALGORITHM, x509, type CryptoKey } from './provider.js';
import { toCertificateTime } from './validity.js';

export interface IssuedServerCertificate {
  certPem: string;
  keyPem: string;
  serial: string;
  /** Leaf then CA: what a TLS server presents so clients see the whole chain. */
  chainPem: string;
}

export interface IssuedNodeCertificate {
  certPem: string;
  serial: string;
  fingerprint: string;
  /** As carried by the certificate (whole seconds). */
  notBefore: number;
  notAfter: number;
}

export async function issueServerCertificate(
  ca: CaMaterial,
  opts: { commonName: string; dnsNames: string[]; ipAddresses: string[]; notBefore: number; notAfter: number },
): Promise<IssuedServerCertificate> {
  const names: x509.JsonGeneralName[] = [];
  for (const dns of opts.dnsNames) {
    if (!/^(\*\.)?[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?$/.test(dns)) {
      throw new BulwarkError('BAD_REQUEST', `"${dns}" is not a DNS name`);
    }
    names.push({ type: 'dns', value: dns });
  }
  for (const ip of opts.ipAddresses) {
    if (isIP(ip) === 0) throw new BulwarkError('BAD_REQUEST', `"${ip}" is not an IPv4 or IPv6 address`);
    names.push({ type: 'ip', value: ip });
  }
  if (names.length === 0) {
    throw new BulwarkError('BAD_REQUEST', 'a server certificate needs at least one DNS name or IP address');
  }
  const loaded = await loadCa(ca);
  const keys = await generateCryptoKeyPair();
  const { cert, serial } = await sign(loaded, {
    commonName: opts.commonName,
    publicKey: keys.publicKey,
    notBefore: opts.notBefore,
    notAfter: opts.notAfter,
    extendedKeyUsage: x509.ExtendedKeyUsage.serverAuth,
    subjectAltName: new x509.SubjectAlternativeNameExtension(names, false),
  });
  const { keyPem } = await exportKeyPair(keys);
  const certPem = encodeCertificate(cert);
  return { certPem, keyPem, serial, chainPem: `${certPem}\n${ca.certPem.trim()}\n` };
}

/**
 * Signs a node's CSR. Only the CSR's key is used: the subject and SANs it asks for
 * are ignored, because the identity is what the server assigned, not what the
 * joining machine claims.
 */
export async function issueNodeCertificate(
  ca: CaMaterial,
  opts: { csrPem: string; clusterName: string; nodeId: string; notBefore: number; notAfter: number },
): Promise<IssuedNodeCertificate> {
  const csr = await parseVerifiedCsr(opts.csrPem);
  let publicKey: CryptoKey;
  try {
    // Re-exported rather than copied so the certificate carries a canonical SPKI.
    publicKey = await csr.publicKey.export(EC_KEY_ALGORITHM, ['verify']);
  } catch {
    throw new BulwarkError('INVALID_CSR', 'the certificate signing request public key cannot be imported');
  }
  const uri = nodeSpiffeId(opts.clusterName, opts.nodeId);
  const loaded = await loadCa(ca);
  const { cert, serial, notBefore, notAfter } = await sign(loaded, {
    commonName: opts.nodeId,
    publicKey,
    notBefore: opts.notBefore,
    notAfter: opts.notAfter,
    extendedKeyUsage: x509.ExtendedKeyUsage.clientAuth,
    subjectAltName: new x509.SubjectAlternativeNameExtension([{ type: 'url', value: uri }], false),
  });
  return {
    certPem: encodeCertificate(cert),
    serial,
    fingerprint: certificateFingerprint(new Uint8Array(cert.rawData)),
    notBefore,
    notAfter,
  };
}

async function sign(
  ca: LoadedCa,
  leaf: {
    commonName: string;
    publicKey: CryptoKey;
    notBefore: number;
    notAfter: number;
    extendedKeyUsage: x509.ExtendedKeyUsage;
    subjectAltName: x509.SubjectAlternativeNameExtension;
  },
): Promise<{ cert: x509.X509Certificate; serial: string; notBefore: number; notAfter: number }> {
  const notBefore = toCertificateTime(leaf.notBefore);
  const notAfter = toCertificateTime(leaf.notAfter);
  if (notAfter <= notBefore) throw new BulwarkError('BAD_REQUEST', 'certificate notAfter must be later than notBefore');
  const serial = newSerial();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialToHex(serial),
    subject: [{ CN: [leaf.commonName] }],
    issuer: ca.cert.subjectName,
    notBefore: new Date(notBefore),
    notAfter: new Date(notAfter),
    publicKey: leaf.publicKey,
    signingKey: ca.signingKey,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([leaf.extendedKeyUsage], false),
      leaf.subjectAltName,
      ca.authorityKeyIdentifier,
      await x509.SubjectKeyIdentifierExtension.create(leaf.publicKey),
    ],
  });
  return { cert, serial, notBefore, notAfter };
}
