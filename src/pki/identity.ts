import { createHash, X509Certificate } from 'node:crypto';
import { BulwarkError } from '../core/errors.js';
import { normaliseSerial } from '../core/ids.js';

// SPIFFE's alphabets: trust domain lower-case, path segments also allow upper case.
const TRUST_DOMAIN = /^[a-z0-9._-]+$/;
const SEGMENT = /^[A-Za-z0-9._-]+$/;

export function nodeSpiffeId(clusterName: string, nodeId: string): string {
  if (!TRUST_DOMAIN.test(clusterName)) {
    throw new BulwarkError('BAD_REQUEST', `cluster name "${clusterName}" cannot be a SPIFFE trust domain: use a-z, 0-9, ".", "-" and "_"`);
  }
  if (!SEGMENT.test(nodeId) || nodeId === '.' || nodeId === '..') {
    throw new BulwarkError('BAD_REQUEST', `node id "${nodeId}" cannot be a SPIFFE path segment: use letters, digits, ".", "-" and "_"`);
  }
  return `spiffe://${clusterName}/node/${nodeId}`;
}

export function parseNodeSpiffeId(uri: string): { clusterName: string; nodeId: string } | undefined {
  const match = /^spiffe:\/\/([^/]+)\/node\/([^/]+)$/.exec(uri);
  const clusterName = match?.[1];
  const nodeId = match?.[2];
  if (clusterName === undefined || nodeId === undefined) return undefined;
  if (!TRUST_DOMAIN.test(clusterName) || !SEGMENT.test(nodeId) || nodeId === '.' || nodeId === '..') return undefined;
  return { clusterName, nodeId };
}

export interface CertificateInfo {
  /** Lower-case hex without leading zeros. */
  serial: string;
  notBefore: number;
  notAfter: number;
  uris: string[];
  /** Lower-case hex SHA-256 of the DER. */
  fingerprint: string;
  /** Node's rendering, one attribute per line joined by ", " (e.g. "O=Bulwark, CN=…"). */
  subject: string;
}

export function certificateInfo(certPem: string | Uint8Array): CertificateInfo {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(typeof certPem === 'string' ? certPem : Buffer.from(certPem));
  } catch {
    throw new BulwarkError('BAD_REQUEST', 'the certificate cannot be parsed');
  }
  const notBefore = Date.parse(cert.validFrom);
  const notAfter = Date.parse(cert.validTo);
  if (Number.isNaN(notBefore) || Number.isNaN(notAfter)) {
    throw new BulwarkError('BAD_REQUEST', 'the certificate validity cannot be read');
  }
  return {
    serial: normaliseSerial(cert.serialNumber),
    notBefore,
    notAfter,
    uris: subjectAltNames(cert.subjectAltName).filter((n) => n.type === 'URI').map((n) => n.value),
    fingerprint: certificateFingerprint(cert.raw),
    subject: cert.subject.split('\n').join(', '),
  };
}

export function certificateFingerprint(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('hex');
}

/**
 * Node renders subjectAltName as `TYPE:value, TYPE:value`, quoting a value as a JSON
 * string when it holds a separator (CVE-2021-44532), so a naive split on ", " could
 * be fooled by a crafted name.
 */
export function subjectAltNames(text: string | undefined): { type: string; value: string }[] {
  const out: { type: string; value: string }[] = [];
  if (text === undefined || text === '') return out;
  let pos = 0;
  while (pos < text.length) {
    const colon = text.indexOf(':', pos);
    if (colon === -1) break;
    const type = text.slice(pos, colon);
    let value: string;
    let end: number;
    if (text[colon + 1] === '"') {
      end = colon + 2;
      while (end < text.length && text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
      end += 1;
      try {
        value = JSON.parse(text.slice(colon + 1, end)) as string;
      } catch {
        break;
      }
    } else {
      end = text.indexOf(', ', colon + 1);
      if (end === -1) end = text.length;
      value = text.slice(colon + 1, end);
    }
    out.push({ type, value });
    pos = end;
    if (text.startsWith(', ', pos)) pos += 2;
  }
  return out;
}
