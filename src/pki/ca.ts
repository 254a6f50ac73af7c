import { newSerial } from '../core/ids.js';
import { BulwarkError } from '../core/errors.js';
import { SIGNING_ALGORITHM, x509 } from './provider.js';
import { exportKeyPair, generateCryptoKeyPair } from './keys.js';
import { serialToHex } from './pem.js';
import { toCertificateTime } from './validity.js';

export interface CaMaterial {
  certPem: string;
  keyPem: string;
}

export async function createRootCa(opts: { clusterName: string; notBefore: number; notAfter: number }): Promise<CaMaterial> {
  if (opts.clusterName.trim() === '') throw new BulwarkError('BAD_REQUEST', 'cluster name must not be empty');
  const notBefore = toCertificateTime(opts.notBefore);
  const notAfter = toCertificateTime(opts.notAfter);
  if (notAfter <= notBefore) throw new BulwarkError('BAD_REQUEST', 'CA notAfter must be later than notBefore');
  const keys = await generateCryptoKeyPair();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialToHex(newSerial()),
    // JSON form, not a "CN=…" string, so a cluster name with "," or "=" cannot
    // inject extra attributes.
    name: [{ O: ['Bulwark'] }, { CN: [`Bulwark CA ${opts.clusterName}`] }],
    notBefore: new Date(notBefore),
    notAfter: new Date(notAfter),
    keys,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      // pathLen 0: this CA signs leaves only, never another CA.
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const { keyPem } = await exportKeyPair(keys);
  return { certPem: encodeCertificate(cert), keyPem };
}

export function encodeCertificate(cert: x509.X509Certificate): string {
  return `${x509.PemConverter.encode(cert.rawData, 'CERTIFICATE')}\n`;
}
