import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_EVIDENCE_CHARS } from '../model.js';
import { tlsFindings } from './findings.js';
import type { AcceptedSuite, CertificateResult, ChainCertificate, ProtocolResult, TlsScanResult } from './result.js';
import { suiteByCode } from './suites.js';
import { TLS_VERSIONS, type TlsVersion } from './versions.js';

function suite(code: number): AcceptedSuite {
  const s = suiteByCode(code);
  assert.ok(s);
  return { name: s.name, code, openssl: s.openssl, class: s.class, anonymous: s.anonymous, mac: s.mac };
}

function protocols(accepted: Partial<Record<TlsVersion, { codes: number[]; serverPreference?: boolean | null }>>): ProtocolResult[] {
  return TLS_VERSIONS.map((version) => {
    const a = accepted[version];
    return { version, accepted: a !== undefined, suites: (a?.codes ?? []).map(suite), serverPreference: a?.serverPreference ?? null };
  });
}

function entry(overrides: Partial<ChainCertificate> = {}): ChainCertificate {
  return {
    subject: 'CN=web.test',
    issuer: 'O=Example, CN=Example CA',
    notBefore: '2025-01-01T00:00:00Z',
    notAfter: '2026-01-01T00:00:00Z',
    serial: '0a',
    sha256: 'ab'.repeat(32),
    signatureAlgorithm: 'ecdsa-with-SHA256',
    signatureHash: 'SHA-256',
    selfSigned: false,
    validity: 'valid',
    daysLeft: 200,
    ...overrides,
  };
}

function certificate(overrides: Partial<CertificateResult> = {}): CertificateResult {
  return {
    protocol: 'TLSv1.3',
    source: 'node-tls',
    chain: [entry(), entry({ subject: 'O=Example, CN=Example CA', issuer: 'O=Example, CN=Example CA', selfSigned: true })],
    checkedAt: '2025-06-15T00:00:00Z',
    expiryWarningDays: 30,
    trusted: true,
    selfSigned: false,
    hostname: 'web.test',
    hostnameMatches: true,
    key: { type: 'EC', curve: 'prime256v1', bits: 256 },
    ...overrides,
  };
}

function result(overrides: Partial<TlsScanResult> = {}): TlsScanResult {
  return {
    target: { host: 'web.test', port: 443 },
    address: '192.0.2.1',
    tls: true,
    protocols: protocols({ 'TLSv1.3': { codes: [0x1301, 0x1302], serverPreference: true } }),
    certificate: certificate(),
    handshakes: 10,
    durationMs: 50,
    ...overrides,
  };
}

function byRule(r: TlsScanResult): Map<string, ReturnType<typeof tlsFindings>[number]> {
  return new Map(tlsFindings(r).map((f) => [f.ruleId, f]));
}

test('a sound endpoint gets one tls-endpoint pass finding naming what it accepts', () => {
  const findings = tlsFindings(result());
  assert.equal(findings.length, 1);
  const [f] = findings;
  assert.equal(f?.ruleId, 'tls-endpoint');
  assert.equal(f?.status, 'pass');
  assert.equal(f?.severity, 'info');
  assert.equal(f?.key, 'tls:web.test:443/tls-endpoint');
  assert.equal(f?.kind, 'tls');
  assert.equal(f?.source, 'tls');
  assert.equal(f?.location, 'web.test:443');
  assert.equal(f?.evidence, 'TLSv1.3: TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384; certificate CN=web.test valid until 2026-01-01T00:00:00Z, trusted');
});

test('no findings for a port that is not TLS; no pass finding for a partial scan', () => {
  assert.deepEqual(tlsFindings(result({ tls: false, protocols: [], notTlsReason: 'the server sent "SSH-2.0-x"' })), []);
  assert.deepEqual(tlsFindings(result({ incomplete: 'time budget of 5000 ms ran out' })), []);
  const partialButWeak = tlsFindings(result({ incomplete: 'x', protocols: protocols({ TLSv1: { codes: [0x002f] } }) }));
  assert.deepEqual(partialButWeak.map((f) => f.ruleId), ['tls-protocol-weak', 'tls-cipher-cbc-sha1-tls10'], 'what was found is still reported');
});

test('RC4, EXPORT and 3DES suites each get their rule, evidence grouped by version, OpenSSL names in the remediation', () => {
  const findings = byRule(
    result({
      protocols: protocols({
        TLSv1: { codes: [0x0003, 0x0005, 0x000a], serverPreference: true },
        'TLSv1.2': { codes: [0x0005, 0x000a, 0xc02f], serverPreference: true },
      }),
    }),
  );
  assert.deepEqual([...findings.keys()], ['tls-protocol-weak', 'tls-cipher-export', 'tls-cipher-rc4', 'tls-cipher-3des', 'tls-cipher-cbc-sha1-tls10']);
  assert.equal(findings.get('tls-protocol-weak')?.evidence, 'TLSv1 accepted: TLS_RSA_EXPORT_WITH_RC4_40_MD5, TLS_RSA_WITH_RC4_128_SHA, TLS_RSA_WITH_3DES_EDE_CBC_SHA');
  assert.equal(findings.get('tls-cipher-rc4')?.evidence, 'TLSv1: TLS_RSA_WITH_RC4_128_SHA; TLSv1.2: TLS_RSA_WITH_RC4_128_SHA');
  assert.equal(findings.get('tls-cipher-export')?.severity, 'critical');
  const des = findings.get('tls-cipher-3des');
  assert.equal(des?.severity, 'medium');
  assert.equal(des?.evidence, 'TLSv1: TLS_RSA_WITH_3DES_EDE_CBC_SHA; TLSv1.2: TLS_RSA_WITH_3DES_EDE_CBC_SHA');
  assert.match(des?.remediation ?? '', /Accepted now: DES-CBC3-SHA\.$/);
  assert.deepEqual(des?.details, { protocols: ['TLSv1', 'TLSv1.2'], ciphers: ['TLS_RSA_WITH_3DES_EDE_CBC_SHA'] });
  assert.equal(findings.get('tls-cipher-cbc-sha1-tls10')?.evidence, 'TLSv1: TLS_RSA_WITH_3DES_EDE_CBC_SHA', 'CBC-SHA1 only counts under TLS 1.0');
  assert.equal(findings.has('tls-no-server-preference'), false, 'the server imposes its order');
  for (const f of findings.values()) {
    assert.equal(f.status, 'fail');
    assert.ok(f.rationale && f.remediation && f.references && f.references.length > 0, f.ruleId);
  }
});

test('single DES makes the 3DES/DES finding high; SSL 3 counts as a weak protocol', () => {
  const findings = byRule(result({ protocols: protocols({ SSLv3: { codes: [0x0009] } }) }));
  assert.equal(findings.get('tls-cipher-3des')?.severity, 'high');
  assert.equal(findings.get('tls-protocol-weak')?.evidence, 'SSLv3 accepted: TLS_RSA_WITH_DES_CBC_SHA');
  assert.equal(findings.get('tls-cipher-cbc-sha1-tls10')?.evidence, 'SSLv3: TLS_RSA_WITH_DES_CBC_SHA');
});

test('no server preference is reported only where weak suites are accepted', () => {
  const strongOnly = byRule(result({ protocols: protocols({ 'TLSv1.2': { codes: [0xc02f, 0xc030], serverPreference: false } }) }));
  assert.equal(strongOnly.has('tls-no-server-preference'), false);
  assert.equal(strongOnly.has('tls-endpoint'), true);
  const weak = byRule(
    result({
      protocols: protocols({ 'TLSv1.2': { codes: [0x000a, 0xc02f], serverPreference: false }, 'TLSv1.3': { codes: [0x1301, 0x1302], serverPreference: false } }),
    }),
  );
  const f = weak.get('tls-no-server-preference');
  assert.equal(f?.severity, 'low');
  assert.equal(f?.evidence, "TLSv1.2: the server takes the client's first choice; weak suites it accepts there: TLS_RSA_WITH_3DES_EDE_CBC_SHA");
});

test('certificate problems: not yet valid, expiring, untrusted, hostname mismatch, small EC key, MD5 signature', () => {
  const findings = byRule(
    result({
      certificate: certificate({
        chain: [
          entry({ validity: 'expiring', daysLeft: 12, notAfter: '2025-06-27T00:00:00Z', signatureAlgorithm: 'md5WithRSAEncryption', signatureHash: 'MD5' }),
          entry({ subject: 'CN=Intermediate', validity: 'not-yet-valid', notBefore: '2025-07-01T00:00:00Z' }),
        ],
        trusted: false,
        trustError: 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
        hostname: 'other.test',
        hostnameMatches: false,
        hostnameError: "Host: other.test. is not in the cert's altnames: DNS:web.test",
        key: { type: 'EC', curve: 'secp224r1', bits: 224 },
      }),
    }),
  );
  assert.deepEqual([...findings.keys()], ['tls-cert-not-yet-valid', 'tls-cert-expiring', 'tls-cert-untrusted', 'tls-cert-hostname-mismatch', 'tls-key-weak', 'tls-signature-weak']);
  assert.equal(findings.get('tls-cert-expiring')?.evidence, 'certificate CN=web.test expires 2025-06-27T00:00:00Z (in 12 days)');
  assert.equal(findings.get('tls-cert-not-yet-valid')?.evidence, 'certificate CN=Intermediate is not valid before 2025-07-01T00:00:00Z');
  assert.equal(findings.get('tls-cert-untrusted')?.evidence, 'certificate CN=web.test does not verify against the trust store: UNABLE_TO_GET_ISSUER_CERT_LOCALLY');
  assert.equal(findings.get('tls-cert-hostname-mismatch')?.evidence, "certificate CN=web.test does not cover other.test: Host: other.test. is not in the cert's altnames: DNS:web.test");
  assert.equal(findings.get('tls-key-weak')?.evidence, 'certificate CN=web.test has a 224-bit EC key (secp224r1)');
  assert.equal(findings.get('tls-signature-weak')?.severity, 'high');
  assert.equal(findings.get('tls-signature-weak')?.evidence, 'certificate CN=web.test is signed with md5WithRSAEncryption');
});

test("an expired self-signed leaf: OpenSSL's CERT_HAS_EXPIRED is not reported again as untrusted", () => {
  const leaf = entry({ subject: 'CN=weak.test', issuer: 'CN=weak.test', selfSigned: true, validity: 'expired', notAfter: '2020-01-02T00:00:00Z', daysLeft: -1900 });
  const findings = byRule(result({ certificate: certificate({ chain: [leaf], trusted: false, trustError: 'CERT_HAS_EXPIRED', selfSigned: true }) }));
  assert.deepEqual([...findings.keys()], ['tls-cert-expired', 'tls-cert-self-signed']);
  assert.equal(findings.get('tls-cert-expired')?.evidence, 'certificate CN=weak.test expired 2020-01-02T00:00:00Z');
});

test('a self-signed certificate the operator trusts is not reported; a root signed with SHA-1 is not a weak signature', () => {
  const pinned = entry({ issuer: 'CN=web.test', selfSigned: true });
  assert.deepEqual(tlsFindings(result({ certificate: certificate({ chain: [pinned], selfSigned: true, trusted: true }) })).map((f) => f.ruleId), ['tls-endpoint']);
  const sha1Root = entry({ subject: 'CN=Old Root', issuer: 'CN=Old Root', selfSigned: true, signatureAlgorithm: 'sha1WithRSAEncryption', signatureHash: 'SHA-1' });
  assert.deepEqual(tlsFindings(result({ certificate: certificate({ chain: [entry(), sha1Root] }) })).map((f) => f.ruleId), ['tls-endpoint']);
  const sha1Intermediate = entry({ subject: 'CN=Old Intermediate', signatureAlgorithm: 'sha1WithRSAEncryption', signatureHash: 'SHA-1' });
  const weak = byRule(result({ certificate: certificate({ chain: [entry(), sha1Intermediate, sha1Root] }) }));
  assert.equal(weak.get('tls-signature-weak')?.evidence, 'certificate CN=Old Intermediate is signed with sha1WithRSAEncryption');
  assert.equal(weak.get('tls-signature-weak')?.severity, 'medium');
});

test('RSA keys below 2048 bits are weak, 2048 is not; unverified chains (trusted null) raise no trust finding', () => {
  const small = byRule(result({ certificate: certificate({ key: { type: 'RSA', bits: 1024 }, trusted: null }) }));
  assert.deepEqual([...small.keys()], ['tls-key-weak']);
  assert.equal(small.get('tls-key-weak')?.evidence, 'certificate CN=web.test has a 1024-bit RSA key');
  assert.deepEqual([...byRule(result({ certificate: certificate({ key: { type: 'RSA', bits: 2048 } }) })).keys()], ['tls-endpoint']);
});

test('keys use the bracketed IPv6 location; evidence is clamped', () => {
  const many = Array.from({ length: 120 }, (_, i) => i).flatMap(() => [0x0005]);
  const findings = tlsFindings(result({ target: { host: '::1', port: 8443 }, protocols: protocols({ 'TLSv1.2': { codes: many } }) }));
  const rc4 = findings.find((f) => f.ruleId === 'tls-cipher-rc4');
  assert.equal(rc4?.key, 'tls:[::1]:8443/tls-cipher-rc4');
  assert.equal(rc4?.location, '[::1]:8443');
  assert.ok((rc4?.evidence.length ?? 0) <= MAX_EVIDENCE_CHARS);
  assert.ok(rc4?.evidence.endsWith('…'));
});
