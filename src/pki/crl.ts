import { createPrivateKey, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { BulwarkError } from '../core/errors.js';
import { normaliseSerial } from '../core/ids.js';
import type { CaMaterial } from './ca.js';
import { bitString, certificateSubject, explicit, implicitPrimitive, integer, integerFromHex, octetString, oid, sequence, sequenceOf, time } from './der.js';
import { loadCa } from './issuer.js';
import { encodePem } from './pem.js';
import { toCertificateTime } from './validity.js';

const ECDSA_WITH_SHA256_OID = '1.2.840.10045.4.3.2';
const AUTHORITY_KEY_IDENTIFIER_OID = '2.5.29.35';
const CRL_NUMBER_OID = '2.5.29.20';

// AlgorithmIdentifier for ecdsa-with-SHA256: parameters absent (RFC 5758 §3.2).
const SIGNATURE_ALGORITHM = sequence(oid(ECDSA_WITH_SHA256_OID));
const VERSION_2 = integer(1);
const AKI_OID = oid(AUTHORITY_KEY_IDENTIFIER_OID);
const CRL_NUMBER = oid(CRL_NUMBER_OID);

export interface RevokedEntry {
  serial: string;
  revokedAt: number;
}

/** What signing a CRL needs from the CA, parsed once per CA object. */
interface CrlSigner {
  issuer: Buffer;
  authorityKeyIdentifier: Buffer;
  key: KeyObject;
}

const signers = new WeakMap<CaMaterial, { certPem: string; keyPem: string; ready: Promise<CrlSigner> }>();

function crlSigner(ca: CaMaterial): Promise<CrlSigner> {
  const hit = signers.get(ca);
  if (hit && hit.certPem === ca.certPem && hit.keyPem === ca.keyPem) return hit.ready;
  const ready = parseSigner(ca);
  signers.set(ca, { certPem: ca.certPem, keyPem: ca.keyPem, ready });
  ready.catch(() => signers.delete(ca));
  return ready;
}

async function parseSigner(ca: CaMaterial): Promise<CrlSigner> {
  // loadCa checks the certificate parses, the key is P-256 and matches it, and
  // picks the key identifier (the CA's own SKI when it has one).
  const loaded = await loadCa(ca);
  let issuer: Buffer;
  try {
    issuer = certificateSubject(new X509Certificate(ca.certPem).raw);
  } catch {
    throw new BulwarkError('KEY_FILE_INVALID', 'the CA certificate cannot be parsed');
  }
  const keyIdHex = loaded.authorityKeyIdentifier.keyId;
  if (keyIdHex === undefined || keyIdHex === '') throw new BulwarkError('KEY_FILE_INVALID', 'the CA has no key identifier');
  const keyId = Buffer.from(keyIdHex, 'hex');
  // Extension { extnID, extnValue OCTET STRING { AuthorityKeyIdentifier { [0] keyIdentifier } } }; critical FALSE is the default, so absent.
  const authorityKeyIdentifier = sequence(AKI_OID, octetString(sequence(implicitPrimitive(0, keyId))));
  return { issuer, authorityKeyIdentifier, key: createPrivateKey(ca.keyPem) };
}

/**
 * Returns a signed CRL (RFC 5280 §5) as PEM. Encoded by hand: the ASN.1 library
 * spent seconds of main-thread time on a CRL of ten thousand entries.
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
  // A certificate revoked twice is still one revocation, the earliest.
  const bySerial = new Map<string, number>();
  for (const entry of opts.revoked) {
    const serial = normaliseSerial(entry.serial);
    if (!/^[0-9a-f]+$/.test(serial)) throw new BulwarkError('BAD_REQUEST', `serial "${entry.serial}" is not hexadecimal`);
    const revokedAt = toCertificateTime(entry.revokedAt);
    const previous = bySerial.get(serial);
    bySerial.set(serial, previous === undefined ? revokedAt : Math.min(previous, revokedAt));
  }
  const signer = await crlSigner(ca);

  const entries: Buffer[] = [];
  for (const [serial, revokedAt] of bySerial) entries.push(sequence(integerFromHex(serial), time(revokedAt)));
  const tbs = sequence(
    VERSION_2,
    SIGNATURE_ALGORITHM,
    signer.issuer,
    time(thisUpdate),
    time(nextUpdate),
    // revokedCertificates is absent, not an empty SEQUENCE, when nothing is revoked.
    ...(entries.length === 0 ? [] : [sequenceOf(entries)]),
    explicit(0, sequence(signer.authorityKeyIdentifier, sequence(CRL_NUMBER, octetString(integer(opts.crlNumber))))),
  );
  // For an EC key Node returns the DER ECDSA-Sig-Value, which is what the BIT STRING carries.
  const signature = sign('sha256', tbs, signer.key);
  return encodePem(sequence(tbs, SIGNATURE_ALGORITHM, bitString(signature)), 'X509 CRL');
}
