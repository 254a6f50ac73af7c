// The TLS endpoint scanner: what the audit engine, the agent and the CLI use.
export { scanTlsEndpoint, scanTlsEndpoints, type TlsScanOptions, type TlsMultiScanOptions } from './scan.js';
export { tlsFindings } from './findings.js';
export { parseTarget, validateTarget, formatTarget, type TlsTarget } from './target.js';
export type { TlsScanResult, ProtocolResult, AcceptedSuite, CertificateResult, ChainCertificate, CertificateKey } from './result.js';
export { CIPHER_SUITES, suiteByCode, type CipherSuite, type SuiteClass } from './suites.js';
export { TLS_VERSIONS, type TlsVersion } from './versions.js';
