/**
 * The protocol versions the scanner probes, named as Node names them
 * (`TLSv1`, …) so evidence reads like a Node or OpenSSL configuration. SSL 2 is
 * not probed: its record format differs and no supported OpenSSL speaks it.
 */
export const TLS_VERSIONS = ['SSLv3', 'TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'] as const;
export type TlsVersion = (typeof TLS_VERSIONS)[number];

const CODES: Record<TlsVersion, number> = {
  SSLv3: 0x0300,
  TLSv1: 0x0301,
  'TLSv1.1': 0x0302,
  'TLSv1.2': 0x0303,
  'TLSv1.3': 0x0304,
};

/** The two-byte wire value (`ProtocolVersion`) of a version. */
export function versionCode(version: TlsVersion): number {
  return CODES[version];
}

/** The version a wire value stands for, or undefined for anything else (SSL 2, drafts, garbage). */
export function versionFromCode(code: number): TlsVersion | undefined {
  return TLS_VERSIONS.find((v) => CODES[v] === code);
}

/** Orders versions oldest first, for "at least" comparisons. */
export function versionRank(version: TlsVersion): number {
  return TLS_VERSIONS.indexOf(version);
}
