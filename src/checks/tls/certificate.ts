import { createHash, X509Certificate } from 'node:crypto';
import { checkServerIdentity } from 'node:tls';
import type { CertificateKey, CertificateResult, ChainCertificate } from './result.js';
import { signatureAlgorithm } from './signature-algorithm.js';
import type { TlsVersion } from './versions.js';

const DAY = 86_400_000;

/** Field sizes of the curves OpenSSL names; a curve not listed is reported without bits, never judged weak. */
const CURVE_BITS: Record<string, number> = {
  prime192v1: 192,
  secp224r1: 224,
  prime256v1: 256,
  secp256k1: 256,
  secp384r1: 384,
  secp521r1: 521,
  brainpoolP256r1: 256,
  brainpoolP384r1: 384,
  brainpoolP512r1: 512,
};

export interface CertificateInput {
  /** DER, leaf first. */
  chain: readonly Buffer[];
  protocol: TlsVersion;
  source: CertificateResult['source'];
  /** Node's verification; null when the chain was not verified. */
  trust: { trusted: boolean; error?: string } | null;
  /** The DNS name the leaf must cover; undefined for a bare IP target. */
  hostname?: string;
  now: number;
  expiryWarningDays: number;
}

/** Everything the findings need to know about a presented chain, judged at `now`. */
export function inspectCertificate(input: CertificateInput): CertificateResult {
  const certs = input.chain.map((der) => new X509Certificate(der));
  const leaf = certs[0];
  if (leaf === undefined) throw new RangeError('a certificate chain has at least the leaf');
  const chain = certs.map((cert) => describe(cert, input.now, input.expiryWarningDays));
  const result: CertificateResult = {
    protocol: input.protocol,
    source: input.source,
    chain,
    checkedAt: isoSeconds(input.now),
    expiryWarningDays: input.expiryWarningDays,
    trusted: input.trust?.trusted ?? null,
    selfSigned: chain[0]?.selfSigned ?? false,
    key: keyOf(leaf),
  };
  if (input.trust?.error !== undefined) result.trustError = input.trust.error;
  if (input.hostname !== undefined) {
    result.hostname = input.hostname;
    // Node's own rule (SAN dNSName, CN only without any SAN), the one its clients apply.
    const mismatch = checkServerIdentity(input.hostname, leaf.toLegacyObject());
    result.hostnameMatches = mismatch === undefined;
    if (mismatch !== undefined) result.hostnameError = mismatch.message;
  }
  return result;
}

function describe(cert: X509Certificate, now: number, warningDays: number): ChainCertificate {
  const notBefore = Date.parse(cert.validFrom);
  const notAfter = Date.parse(cert.validTo);
  const daysLeft = Math.floor((notAfter - now) / DAY);
  const validity: ChainCertificate['validity'] =
    now > notAfter ? 'expired' : now < notBefore ? 'not-yet-valid' : notAfter - now <= warningDays * DAY ? 'expiring' : 'valid';
  const algorithm = readSignatureAlgorithm(cert.raw);
  const out: ChainCertificate = {
    subject: cert.subject.split('\n').join(', '),
    issuer: cert.issuer.split('\n').join(', '),
    notBefore: isoSeconds(notBefore),
    notAfter: isoSeconds(notAfter),
    serial: cert.serialNumber.toLowerCase(),
    sha256: createHash('sha256').update(cert.raw).digest('hex'),
    signatureAlgorithm: algorithm.name,
    selfSigned: isSelfSigned(cert),
    validity,
    daysLeft,
  };
  if (algorithm.hash !== undefined) out.signatureHash = algorithm.hash;
  return out;
}

function readSignatureAlgorithm(der: Buffer): { name: string; hash?: string } {
  try {
    return signatureAlgorithm(der);
  } catch {
    // Node parsed the certificate, so this only means our small DER reader gave up.
    return { name: 'unknown' };
  }
}

/** Issuer equals subject and the certificate's own key verifies its signature. */
function isSelfSigned(cert: X509Certificate): boolean {
  try {
    return cert.checkIssued(cert) && cert.verify(cert.publicKey);
  } catch {
    return false;
  }
}

function keyOf(cert: X509Certificate): CertificateKey {
  const key = cert.publicKey;
  const details = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case 'rsa':
    case 'rsa-pss':
    case 'dsa': {
      const type = key.asymmetricKeyType === 'rsa' ? 'RSA' : key.asymmetricKeyType === 'dsa' ? 'DSA' : 'RSA-PSS';
      return details.modulusLength === undefined ? { type } : { type, bits: details.modulusLength };
    }
    case 'ec': {
      const curve = details.namedCurve;
      const bits = curve === undefined ? undefined : CURVE_BITS[curve];
      return { type: 'EC', ...(curve === undefined ? {} : { curve }), ...(bits === undefined ? {} : { bits }) };
    }
    case 'ed25519':
      return { type: 'Ed25519', bits: 256 };
    case 'ed448':
      return { type: 'Ed448', bits: 456 };
    default:
      return { type: key.asymmetricKeyType ?? 'unknown' };
  }
}

/** ISO 8601 without milliseconds: certificate times are whole seconds. */
function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
