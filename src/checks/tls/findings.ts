import { clampEvidence, type Finding, type Severity } from '../model.js';
import type { AcceptedSuite, CertificateResult, ChainCertificate, TlsScanResult } from './result.js';
import { formatTarget } from './target.js';
import type { TlsVersion } from './versions.js';

/**
 * Turns one endpoint's scan into findings: one `fail` finding per rule that
 * found a problem, with the evidence that decided it. An endpoint with no
 * problem gets a single `tls-endpoint` pass finding (info) summarising what was
 * seen, so reports and drift show that it was scanned and is sound; a port
 * that does not speak TLS, could not be reached or was only partly scanned
 * gets none (the result's `error`/`incomplete` says why).
 */
export function tlsFindings(result: TlsScanResult): Finding[] {
  if (!result.tls) return [];
  const location = formatTarget(result.target);
  const found: Omit<Finding, 'kind' | 'key' | 'source' | 'location'>[] = [
    ...protocolFindings(result),
    ...cipherFindings(result),
    ...certificateFindings(result.certificate),
  ];
  const findings = found.map((f) => ({ kind: 'tls' as const, key: `tls:${location}/${f.ruleId}`, source: 'tls', location, ...f }));
  if (findings.length === 0 && result.incomplete === undefined && result.certificate !== undefined) {
    const pass = cleanEndpoint(result, result.certificate);
    findings.push({ kind: 'tls', key: `tls:${location}/${pass.ruleId}`, source: 'tls', location, ...pass });
  }
  return findings;
}

type Draft = Omit<Finding, 'kind' | 'key' | 'source' | 'location'>;

const WEAK_PROTOCOLS: readonly TlsVersion[] = ['SSLv3', 'TLSv1', 'TLSv1.1'];

function protocolFindings(result: TlsScanResult): Draft[] {
  const weak = result.protocols.filter((p) => p.accepted && WEAK_PROTOCOLS.includes(p.version));
  if (weak.length === 0) return [];
  return [
    {
      ruleId: 'tls-protocol-weak',
      title: `Deprecated protocol versions accepted: ${weak.map((p) => p.version).join(', ')}`,
      severity: 'high',
      status: 'fail',
      evidence: clampEvidence(weak.map((p) => `${p.version} accepted: ${p.suites.map((s) => s.name).join(', ')}`).join('; ')),
      rationale:
        'SSL 3.0 (POODLE) and TLS 1.0/1.1 (BEAST, SHA-1/MD5 handshake hashes) are deprecated by RFC 7568 and RFC 8996; a client that still speaks them can be downgraded and attacked.',
      remediation:
        "Allow only TLS 1.2 and 1.3: nginx `ssl_protocols TLSv1.2 TLSv1.3;`, Apache `SSLProtocol -all +TLSv1.2 +TLSv1.3`, OpenSSL `MinProtocol = TLSv1.2`, Node `minVersion: 'TLSv1.2'`.",
      references: ['https://www.rfc-editor.org/rfc/rfc8996', 'https://www.rfc-editor.org/rfc/rfc7568'],
      details: { protocols: weak.map((p) => p.version), ciphers: unique(weak.flatMap((p) => p.suites.map((s) => s.name))) },
    },
  ];
}

interface CipherRule {
  id: string;
  title: string;
  severity: (hits: readonly Hit[]) => Severity;
  applies: (suite: AcceptedSuite, version: TlsVersion) => boolean;
  rationale: string;
  remediation: string;
  references: string[];
}

interface Hit {
  version: TlsVersion;
  suite: AcceptedSuite;
}

const CIPHER_RULES: readonly CipherRule[] = [
  {
    id: 'tls-cipher-null',
    title: 'NULL cipher suites accepted (no encryption)',
    severity: () => 'critical',
    applies: (s) => s.class === 'NULL',
    rationale: 'A NULL suite authenticates the traffic but does not encrypt it: everything sent is readable on the network.',
    remediation: 'Remove the NULL suites from the cipher list (OpenSSL: add `!eNULL`).',
    references: ['https://www.rfc-editor.org/rfc/rfc9325'],
  },
  {
    id: 'tls-cipher-export',
    title: 'EXPORT cipher suites accepted',
    severity: () => 'critical',
    applies: (s) => s.class === 'EXPORT',
    rationale: 'EXPORT suites use 40–56-bit keys or 512-bit key exchange, broken in minutes (FREAK, Logjam), and let an attacker downgrade connections.',
    remediation: 'Remove the EXPORT suites from the cipher list (OpenSSL: add `!EXPORT`; OpenSSL 1.1.0 and later cannot offer them at all).',
    references: ['https://freakattack.com/', 'https://weakdh.org/'],
  },
  {
    id: 'tls-cipher-anon',
    title: 'Anonymous cipher suites accepted (no server authentication)',
    severity: () => 'high',
    applies: (s) => s.anonymous,
    rationale: 'Anonymous (ADH/AECDH) suites send no certificate, so any machine in the path can impersonate the server.',
    remediation: 'Remove the anonymous suites from the cipher list (OpenSSL: add `!aNULL`).',
    references: ['https://www.rfc-editor.org/rfc/rfc9325'],
  },
  {
    id: 'tls-cipher-rc4',
    title: 'RC4 cipher suites accepted',
    severity: () => 'high',
    applies: (s) => s.class === 'RC4',
    rationale: 'RC4 keystream biases let an attacker recover plaintext such as cookies; RFC 7465 prohibits RC4 in TLS.',
    remediation: 'Remove the RC4 suites from the cipher list (OpenSSL: add `!RC4`).',
    references: ['https://www.rfc-editor.org/rfc/rfc7465'],
  },
  {
    id: 'tls-cipher-3des',
    title: '3DES or DES cipher suites accepted',
    // Single DES (56-bit key) is brute-forceable; 3DES "only" suffers Sweet32.
    severity: (hits) => (hits.some((h) => h.suite.class === 'DES') ? 'high' : 'medium'),
    applies: (s) => s.class === '3DES' || s.class === 'DES',
    rationale: 'DES and 3DES have 64-bit blocks: after some 32 GiB on one connection, collisions reveal plaintext (Sweet32); single DES keys are brute-forced outright.',
    remediation: 'Remove the DES and 3DES suites from the cipher list (OpenSSL: add `!3DES:!DES`).',
    references: ['https://sweet32.info/', 'https://www.rfc-editor.org/rfc/rfc9325'],
  },
  {
    id: 'tls-cipher-cbc-sha1-tls10',
    title: 'CBC suites with SHA-1 accepted under TLS 1.0 or SSL 3',
    severity: () => 'medium',
    applies: (s, version) => (version === 'TLSv1' || version === 'SSLv3') && s.mac === 'SHA1' && s.name.includes('_CBC_'),
    rationale:
      'Under SSL 3 and TLS 1.0 a CBC suite uses a predictable IV and MAC-then-encrypt, the basis of BEAST, POODLE and Lucky Thirteen padding-oracle attacks.',
    remediation: 'Disable TLS 1.0 and SSL 3 (see tls-protocol-weak); where TLS 1.0 must stay, prefer AEAD suites under TLS 1.2 for every client that has them.',
    references: ['https://www.rfc-editor.org/rfc/rfc7457'],
  },
];

function cipherFindings(result: TlsScanResult): Draft[] {
  const hitsByRule = CIPHER_RULES.map((rule) => ({
    rule,
    hits: result.protocols.flatMap((p) => p.suites.filter((s) => rule.applies(s, p.version)).map((suite) => ({ version: p.version, suite }))),
  }));
  const drafts: Draft[] = hitsByRule
    .filter(({ hits }) => hits.length > 0)
    .map(({ rule, hits }) => ({
      ruleId: rule.id,
      title: rule.title,
      severity: rule.severity(hits),
      status: 'fail',
      evidence: clampEvidence(byVersion(hits)),
      rationale: rule.rationale,
      remediation: `${rule.remediation} Accepted now: ${unique(hits.map((h) => h.suite.openssl)).join(', ')}.`,
      references: rule.references,
      details: { protocols: unique(hits.map((h) => h.version)), ciphers: unique(hits.map((h) => h.suite.name)) },
    }));
  // Client order only matters where the server also accepts something weak.
  const weakVersions = new Set(hitsByRule.flatMap(({ hits }) => hits.map((h) => h.version)));
  const followsClient = result.protocols.filter((p) => p.serverPreference === false && weakVersions.has(p.version));
  if (followsClient.length > 0) {
    const weakHits = hitsByRule.flatMap(({ hits }) => hits).filter((h) => followsClient.some((p) => p.version === h.version));
    drafts.push({
      ruleId: 'tls-no-server-preference',
      title: 'The server lets the client choose among suites that include weak ones',
      severity: 'low',
      status: 'fail',
      evidence: clampEvidence(
        `${followsClient.map((p) => p.version).join(', ')}: the server takes the client's first choice; weak suites it accepts there: ${unique(weakHits.map((h) => h.suite.name)).join(', ')}`,
      ),
      rationale: 'Without a server cipher order, a client that lists a weak suite first (or an attacker tampering with an old client) gets it even when stronger ones are available.',
      remediation: 'Enforce the server\'s order (nginx `ssl_prefer_server_ciphers on;`, Apache `SSLHonorCipherOrder on`, Node `honorCipherOrder: true`) and remove the weak suites.',
      references: ['https://www.rfc-editor.org/rfc/rfc9325'],
      details: { protocols: followsClient.map((p) => p.version), ciphers: unique(weakHits.map((h) => h.suite.name)) },
    });
  }
  return drafts;
}

/** `TLSv1: A, B; TLSv1.2: A` — names exactly what each version accepted. */
function byVersion(hits: readonly Hit[]): string {
  const versions = unique(hits.map((h) => h.version));
  return versions.map((v) => `${v}: ${hits.filter((h) => h.version === v).map((h) => h.suite.name).join(', ')}`).join('; ');
}

const WEAK_HASHES = new Set(['MD2', 'MD4', 'MD5', 'SHA-1']);
/** OpenSSL verification errors that a more specific certificate rule already reports. */
const EXPLAINED_BY: Record<string, string> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: 'tls-cert-self-signed',
  CERT_HAS_EXPIRED: 'tls-cert-expired',
  CERT_NOT_YET_VALID: 'tls-cert-not-yet-valid',
};

function certificateFindings(cert: CertificateResult | undefined): Draft[] {
  if (cert === undefined) return [];
  const leaf = cert.chain[0];
  if (leaf === undefined) return [];
  const drafts: Draft[] = [];
  const expired = cert.chain.filter((c) => c.validity === 'expired');
  if (expired.length > 0) {
    drafts.push(certDraft('tls-cert-expired', 'Certificate expired', 'high', expired.map((c) => `certificate ${label(c)} expired ${c.notAfter}`), {
      rationale: 'Clients refuse an expired certificate, or users learn to click through warnings, which defeats authentication.',
      remediation: 'Renew the certificate and reload the service; automate renewal (ACME, or Bulwark-issued certificates that renew themselves).',
      references: ['https://www.rfc-editor.org/rfc/rfc5280#section-4.1.2.5'],
      details: { subjects: expired.map((c) => c.subject), notAfter: expired.map((c) => c.notAfter) },
    }));
  }
  const early = cert.chain.filter((c) => c.validity === 'not-yet-valid');
  if (early.length > 0) {
    drafts.push(certDraft('tls-cert-not-yet-valid', 'Certificate not yet valid', 'high', early.map((c) => `certificate ${label(c)} is not valid before ${c.notBefore}`), {
      rationale: 'Clients refuse a certificate before its notBefore; it usually means a wrong clock on the issuer or the host.',
      remediation: 'Check the clocks of the host and the issuing CA, and reissue the certificate with a correct validity period.',
      references: ['https://www.rfc-editor.org/rfc/rfc5280#section-4.1.2.5'],
      details: { subjects: early.map((c) => c.subject), notBefore: early.map((c) => c.notBefore) },
    }));
  }
  const expiring = cert.chain.filter((c) => c.validity === 'expiring');
  if (expiring.length > 0) {
    drafts.push(
      certDraft('tls-cert-expiring', `Certificate expires within ${cert.expiryWarningDays} days`, 'medium', expiring.map((c) => `certificate ${label(c)} expires ${c.notAfter} (in ${c.daysLeft} days)`), {
        rationale: 'An expiring certificate becomes an outage when it is not renewed in time.',
        remediation: 'Renew the certificate before it expires and make sure renewal is automated and monitored.',
        references: ['https://www.rfc-editor.org/rfc/rfc5280#section-4.1.2.5'],
        details: { subjects: expiring.map((c) => c.subject), notAfter: expiring.map((c) => c.notAfter), daysLeft: Math.min(...expiring.map((c) => c.daysLeft)) },
      }),
    );
  }
  // A self-signed certificate the operator pinned as a trust anchor (options.ca) is deliberate.
  const selfSigned = cert.selfSigned && cert.trusted !== true;
  if (selfSigned) {
    drafts.push(certDraft('tls-cert-self-signed', 'Self-signed certificate', 'high', [`certificate ${label(leaf)} is self-signed (issuer ${leaf.issuer})`], {
      rationale: 'Nothing vouches for a self-signed certificate: clients either reject it or must be told to skip verification, after which any impostor passes.',
      remediation: 'Serve a certificate issued by a CA the clients trust (a public CA, or the organisation\'s internal CA distributed to clients).',
      references: ['https://www.rfc-editor.org/rfc/rfc5280#section-6'],
      details: { subject: leaf.subject, sha256: leaf.sha256 },
    }));
  }
  const emitted = new Set(drafts.map((d) => d.ruleId));
  const explainedBy = cert.trustError === undefined ? undefined : EXPLAINED_BY[cert.trustError];
  if (cert.trusted === false && (explainedBy === undefined || !emitted.has(explainedBy))) {
    drafts.push(
      certDraft('tls-cert-untrusted', 'Certificate chain does not verify', 'high', [`certificate ${label(leaf)} does not verify against the trust store: ${cert.trustError ?? 'unknown reason'}`], {
        rationale: 'Clients that verify certificates refuse this endpoint; clients that do not are open to impersonation.',
        remediation: 'Serve the full chain (leaf and intermediates) from a CA the clients trust; check that the intermediates are in the served file.',
        references: ['https://www.rfc-editor.org/rfc/rfc5280#section-6'],
        details: { trustError: cert.trustError ?? 'unknown', issuer: leaf.issuer },
      }),
    );
  }
  if (cert.hostnameMatches === false && cert.hostname !== undefined) {
    drafts.push(
      certDraft('tls-cert-hostname-mismatch', 'Certificate does not match the host name', 'high', [`certificate ${label(leaf)} does not cover ${cert.hostname}: ${cert.hostnameError ?? ''}`.trim()], {
        rationale: 'Clients refuse a certificate issued for another name; accepting it anyway lets any holder of a valid certificate impersonate this host.',
        remediation: `Issue the certificate with ${cert.hostname} in its subjectAltName (DNS), or reach the service by a name it covers.`,
        references: ['https://www.rfc-editor.org/rfc/rfc9525'],
        details: { hostname: cert.hostname, subject: leaf.subject },
      }),
    );
  }
  const bits = cert.key.bits;
  const minimum = cert.key.type === 'EC' ? 256 : ['RSA', 'RSA-PSS', 'DSA'].includes(cert.key.type) ? 2048 : undefined;
  if (bits !== undefined && minimum !== undefined && bits < minimum) {
    drafts.push(
      certDraft('tls-key-weak', 'Certificate key too small', 'high', [`certificate ${label(leaf)} has a ${bits}-bit ${cert.key.type} key${cert.key.curve === undefined ? '' : ` (${cert.key.curve})`}`], {
        rationale: `${cert.key.type} keys below ${minimum} bits are within reach of well-funded attackers and refused by current clients (NIST SP 800-131A).`,
        remediation: 'Issue a new certificate on an RSA key of at least 2048 bits or an EC key on P-256 or larger.',
        references: ['https://csrc.nist.gov/pubs/sp/800/131/a/r2/final'],
        details: { keyType: cert.key.type, bits, ...(cert.key.curve === undefined ? {} : { curve: cert.key.curve }) },
      }),
    );
  }
  // A trust anchor's own signature is never checked, so a root's SHA-1 self-signature is harmless.
  const anchor = cert.chain.length > 1 && cert.chain[cert.chain.length - 1]?.selfSigned === true ? cert.chain[cert.chain.length - 1] : undefined;
  const weakSigned = cert.chain.filter((c) => c !== anchor && c.signatureHash !== undefined && WEAK_HASHES.has(c.signatureHash));
  if (weakSigned.length > 0) {
    const md = weakSigned.some((c) => c.signatureHash !== 'SHA-1');
    drafts.push(
      certDraft('tls-signature-weak', 'Certificate signed with a broken hash', md ? 'high' : 'medium', weakSigned.map((c) => `certificate ${label(c)} is signed with ${c.signatureAlgorithm}`), {
        rationale: 'MD5 and SHA-1 collisions are practical (Flame, SHAttered): a signature over them no longer proves who issued the certificate, and current clients refuse it.',
        remediation: 'Reissue the certificate (and any intermediate) with a SHA-256 or stronger signature.',
        references: ['https://shattered.io/'],
        details: { subjects: weakSigned.map((c) => c.subject), algorithms: unique(weakSigned.map((c) => c.signatureAlgorithm)) },
      }),
    );
  }
  return drafts;
}

function certDraft(
  ruleId: string,
  title: string,
  severity: Severity,
  lines: string[],
  rest: { rationale: string; remediation: string; references: string[]; details: Record<string, string | number | boolean | string[]> },
): Draft {
  return { ruleId, title, severity, status: 'fail', evidence: clampEvidence(lines.join('; ')), ...rest };
}

function cleanEndpoint(result: TlsScanResult, cert: CertificateResult): Draft {
  const accepted = result.protocols.filter((p) => p.accepted);
  const leaf = cert.chain[0];
  const certificate = leaf === undefined ? 'no certificate' : `certificate ${label(leaf)} valid until ${leaf.notAfter}${cert.trusted === true ? ', trusted' : ''}`;
  return {
    ruleId: 'tls-endpoint',
    title: 'TLS endpoint has no known weakness',
    severity: 'info',
    status: 'pass',
    evidence: clampEvidence(`${accepted.map((p) => `${p.version}: ${p.suites.map((s) => s.name).join(', ')}`).join('; ')}; ${certificate}`),
    details: { protocols: accepted.map((p) => p.version), ciphers: unique(accepted.flatMap((p) => p.suites.map((s) => s.name))) },
  };
}

/** `CN=…` when the subject has a common name, else the whole subject. */
function label(cert: ChainCertificate): string {
  return cert.subject.split(', ').find((part) => part.startsWith('CN=')) ?? cert.subject;
}

function unique<T>(values: readonly T[]): T[] {
  return [...new Set(values)];
}
