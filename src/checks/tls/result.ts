import type { SuiteClass } from './suites.js';
import type { TlsTarget } from './target.js';
import type { TlsVersion } from './versions.js';

/**
 * What a scan of one endpoint found: plain data (JSON-serialisable), so the
 * agent can send it and the server can store it and turn it into findings.
 */
export interface TlsScanResult {
  target: TlsTarget;
  /** The address every probe connected to (the first one DNS gave). */
  address?: string;
  /**
   * Whether the port speaks TLS: true once any probe got a TLS answer (a
   * ServerHello or a TLS alert); false for a port that answers with something
   * else, closes, stays silent or cannot be reached.
   */
  tls: boolean;
  /** One entry per probed version, oldest first (SSLv3 … TLSv1.3). */
  protocols: ProtocolResult[];
  certificate?: CertificateResult;
  /** Why no certificate could be read although the port speaks TLS. */
  certificateError?: string;
  /** ClientHellos sent. */
  handshakes: number;
  durationMs: number;
  /** Set when the result is partial: the time budget ran out, or some probes got no usable answer. */
  incomplete?: string;
  /**
   * Set when the endpoint could not be scanned at all: DNS failure, connection
   * refused, or a TLS server that refused every hello (e.g. one that needs SNI).
   */
  error?: string;
  /** When `tls` is false although the port answered: what it did instead (a banner, a close, silence). */
  notTlsReason?: string;
}

export interface ProtocolResult {
  version: TlsVersion;
  accepted: boolean;
  /** Accepted suites, ordered by IANA code; empty when the version is refused. */
  suites: AcceptedSuite[];
  /**
   * true: the server imposes its own order; false: it takes the client's first
   * choice; null: fewer than two suites, or the answers fit neither.
   */
  serverPreference: boolean | null;
}

export interface AcceptedSuite {
  /** IANA name. */
  name: string;
  /** IANA code. */
  code: number;
  /** OpenSSL's name, for remediation advice. */
  openssl: string;
  class: SuiteClass;
  anonymous: boolean;
  /** MAC of a non-AEAD suite (SHA1, MD5, …), or AEAD. */
  mac: string;
}

export interface CertificateResult {
  /** The protocol the chain was read over: the best one accepted. */
  protocol: TlsVersion;
  /**
   * `node-tls`: a full handshake by Node's TLS client, which also verified the
   * chain. `handshake`: read from the plaintext Certificate message of a raw
   * TLS ≤ 1.2 probe because Node could not negotiate any accepted suite; the
   * chain was then not verified (`trusted` is null).
   */
  source: 'node-tls' | 'handshake';
  /** Leaf first. From Node, the presented chain completed by the root from the trust store when one was found. */
  chain: ChainCertificate[];
  /** The instant validity was judged at (`options.now`), ISO 8601. */
  checkedAt: string;
  expiryWarningDays: number;
  /** Whether the chain verifies against the trust store; null when not evaluated. */
  trusted: boolean | null;
  /** OpenSSL's reason (Node's `authorizationError`), e.g. CERT_HAS_EXPIRED. */
  trustError?: string;
  /** The leaf is signed by its own key. */
  selfSigned: boolean;
  /** The DNS name checked (target server name or host name); absent for a bare IP target. */
  hostname?: string;
  hostnameMatches?: boolean;
  hostnameError?: string;
  /** The leaf's public key. */
  key: CertificateKey;
}

export interface ChainCertificate {
  subject: string;
  issuer: string;
  /** ISO 8601. */
  notBefore: string;
  notAfter: string;
  /** Lower-case hex. */
  serial: string;
  /** Lower-case hex SHA-256 of the DER. */
  sha256: string;
  /** e.g. sha256WithRSAEncryption, ecdsa-with-SHA256, or the OID when unknown. */
  signatureAlgorithm: string;
  /** The signature's digest (SHA-1, MD5, SHA-256, …) when known. */
  signatureHash?: string;
  selfSigned: boolean;
  /** Relative to `checkedAt`; `expiring` when it ends within `expiryWarningDays`. */
  validity: 'valid' | 'expiring' | 'expired' | 'not-yet-valid';
  /** Whole days from `checkedAt` to notAfter (negative once expired). */
  daysLeft: number;
}

export interface CertificateKey {
  /** RSA, RSA-PSS, EC, DSA, Ed25519, Ed448, or Node's name for anything else. */
  type: string;
  /** Modulus size (RSA, DSA) or field size (EC, EdDSA). */
  bits?: number;
  /** EC curve as OpenSSL names it (prime256v1, secp384r1, …). */
  curve?: string;
}
