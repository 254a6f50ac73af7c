import { BulwarkError } from '../core/errors.js';
import { normaliseSerial } from '../core/ids.js';
import type { CaMaterial } from './ca.js';
import { loadCa } from './issuer.js';
import { serialToHex } from './pem.js';
import { SIGNING_ALGORITHM, x509 } from './provider.js';
import { toCertificateTime } from './validity.js';

const CRL_NUMBER_OID = '2.5.29.20';

export interface RevokedEntry {
  serial: string;
  revokedAt: number;
}

/**
 * Returns a signed CRL as PEM. Encoded with PemConverter.encode: the library's own
 * `toString('pem')` writes a header OpenSSL rejects.
 */
export async function createCrl(
  ca: CaMaterial,
  opts: { revoked: RevokedEntry[]; thisUpdate: number; nextUpdate: number; crlNumber: number },
): Promise<string> {
  if (!Number.isSafeInteger(opts.crlNumber) || opts.crlNumber < 0) {
    throw new BulwarkError('BAD_REQUEST', `CRL number ${opts.crlNumber} must be a non-negative integer`);
  }
  const thisUpdate = toCertificateTime(opts.thisUpdate);
  const nextUpdate = toCertificateTime(opts.nextUpdate);
  if (nextUpdate <= thisUpdate) throw new BulwarkError('BAD_REQUEST', 'CRL nextUpdate must be later than thisUpdate');
  // The library throws on a repeated serial; a certificate revoked twice is still
  // one revocation, the earliest.
  const bySerial = new Map<string, number>();
  for (const entry of opts.revoked) {
    const serial = normaliseSerial(entry.serial);
    if (!/^[0-9a-f]+$/.test(serial)) throw new BulwarkError('BAD_REQUEST', `serial "${entry.serial}" is not hexadecimal`);
    const previous = bySerial.get(serial);
    bySerial.set(serial, previous === undefined ? entry.revokedAt : Math.min(previous, entry.revokedAt));
  }
  const loaded = await loadCa(ca);
  const crl = await x509.X509CrlGenerator.create({
    issuer: loaded.cert.subjectName,
    thisUpdate: new Date(thisUpdate),
    nextUpdate: new Date(nextUpdate),
    entries: [...bySerial].map(([serial, revokedAt]) => ({
      serialNumber: serialToHex(serial),
      revocationDate: new Date(toCertificateTime(revokedAt)),
    })),
    extensions: [loaded.authorityKeyIdentifier, new x509.Extension(CRL_NUMBER_OID, false, derInteger(opts.crlNumber))],
    signingKey: loaded.signingKey,
    signingAlgorithm: SIGNING_ALGORITHM,
  });
  return `${x509.PemConverter.encode(crl.rawData, 'X509 CRL')}\n`;
}

/** DER INTEGER for a non-negative number: minimal big-endian bytes, a 0x00 lead if the top bit is set. */
function derInteger(value: number): Uint8Array {
  let hex = value.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  let bytes = Buffer.from(hex, 'hex');
  if ((bytes[0] ?? 0) & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return Uint8Array.from([0x02, bytes.length, ...bytes]);
}
