import { BulwarkError, type ErrorCode } from '../core/errors.js';

// Generous for a P-256 certificate or CSR; bounds the work a hostile upload can cause.
const MAX_PEM_CHARS = 64 * 1024;

export function encodePem(der: ArrayBuffer | Uint8Array, label: string): string {
  const body = Buffer.from(der instanceof Uint8Array ? der : new Uint8Array(der)).toString('base64');
  const lines = body.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/**
 * Decodes exactly one PEM block with the expected label. Stricter than
 * x509.PemConverter, which accepts any label and would let a certificate pass
 * where a CSR is expected.
 */
export function decodePem(pem: string, label: string, code: ErrorCode, what: string): Buffer {
  if (typeof pem !== 'string' || pem.length > MAX_PEM_CHARS) {
    throw new BulwarkError(code, `${what} is not a PEM "${label}" block`);
  }
  const re = new RegExp(`^\\s*-----BEGIN ${label}-----\\r?\\n([A-Za-z0-9+/=\\r\\n]+)-----END ${label}-----\\s*$`);
  const match = re.exec(pem);
  const body = match?.[1]?.replace(/[\r\n]/g, '') ?? '';
  if (body === '' || !/^[A-Za-z0-9+/]+={0,2}$/.test(body) || body.length % 4 !== 0) {
    throw new BulwarkError(code, `${what} is not a single PEM "${label}" block`);
  }
  return Buffer.from(body, 'base64');
}

/** Hex as @peculiar/x509 wants it: even length, so no nibble is silently shifted. */
export function serialToHex(serial: string): string {
  return serial.length % 2 === 0 ? serial : `0${serial}`;
}
