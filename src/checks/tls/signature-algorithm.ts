import { children, readElement, type DerElement } from '../../pki/der.js';

/**
 * The algorithm a certificate is signed with, read from its DER: Node 20's
 * X509Certificate does not expose it, and the digest (SHA-1, MD5) is what
 * decides whether the signature can still be trusted.
 */
export interface SignatureAlgorithm {
  /** OpenSSL's long name (sha256WithRSAEncryption, ecdsa-with-SHA1, …), or the dotted OID when unknown. */
  name: string;
  hash?: string;
}

const TAG_SEQUENCE = 0x30;
const TAG_OID = 0x06;
const TAG_CONTEXT_0 = 0xa0;

const RSASSA_PSS = '1.2.840.113549.1.1.10';

const ALGORITHMS: Record<string, SignatureAlgorithm> = {
  '1.2.840.113549.1.1.2': { name: 'md2WithRSAEncryption', hash: 'MD2' },
  '1.2.840.113549.1.1.3': { name: 'md4WithRSAEncryption', hash: 'MD4' },
  '1.2.840.113549.1.1.4': { name: 'md5WithRSAEncryption', hash: 'MD5' },
  '1.2.840.113549.1.1.5': { name: 'sha1WithRSAEncryption', hash: 'SHA-1' },
  '1.3.14.3.2.29': { name: 'sha1WithRSA', hash: 'SHA-1' },
  '1.2.840.113549.1.1.14': { name: 'sha224WithRSAEncryption', hash: 'SHA-224' },
  '1.2.840.113549.1.1.11': { name: 'sha256WithRSAEncryption', hash: 'SHA-256' },
  '1.2.840.113549.1.1.12': { name: 'sha384WithRSAEncryption', hash: 'SHA-384' },
  '1.2.840.113549.1.1.13': { name: 'sha512WithRSAEncryption', hash: 'SHA-512' },
  '1.2.840.10045.4.1': { name: 'ecdsa-with-SHA1', hash: 'SHA-1' },
  '1.2.840.10045.4.3.1': { name: 'ecdsa-with-SHA224', hash: 'SHA-224' },
  '1.2.840.10045.4.3.2': { name: 'ecdsa-with-SHA256', hash: 'SHA-256' },
  '1.2.840.10045.4.3.3': { name: 'ecdsa-with-SHA384', hash: 'SHA-384' },
  '1.2.840.10045.4.3.4': { name: 'ecdsa-with-SHA512', hash: 'SHA-512' },
  '1.2.840.10040.4.3': { name: 'dsaWithSHA1', hash: 'SHA-1' },
  '2.16.840.1.101.3.4.3.1': { name: 'dsa_with_SHA224', hash: 'SHA-224' },
  '2.16.840.1.101.3.4.3.2': { name: 'dsa_with_SHA256', hash: 'SHA-256' },
  '1.3.101.112': { name: 'ED25519', hash: 'SHA-512' },
  '1.3.101.113': { name: 'ED448', hash: 'SHAKE256' },
};

const HASHES: Record<string, string> = {
  '1.3.14.3.2.26': 'SHA-1',
  '2.16.840.1.101.3.4.2.4': 'SHA-224',
  '2.16.840.1.101.3.4.2.1': 'SHA-256',
  '2.16.840.1.101.3.4.2.2': 'SHA-384',
  '2.16.840.1.101.3.4.2.3': 'SHA-512',
};

/** Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm AlgorithmIdentifier, signature }. */
export function signatureAlgorithm(certDer: Uint8Array): SignatureAlgorithm {
  const cert = readElement(certDer, 0);
  if (cert.tag !== TAG_SEQUENCE) throw new RangeError('a certificate is a SEQUENCE');
  const algorithm = children(certDer, cert)[1];
  if (algorithm?.tag !== TAG_SEQUENCE) throw new RangeError('the signature algorithm is not a SEQUENCE');
  const [id, params] = children(certDer, algorithm);
  if (id?.tag !== TAG_OID) throw new RangeError('the signature algorithm has no OID');
  const dotted = decodeOid(certDer.subarray(id.contentStart, id.end));
  if (dotted === RSASSA_PSS) return { name: 'rsassaPss', hash: pssHash(certDer, params) };
  return ALGORITHMS[dotted] ?? { name: dotted };
}

/** RSASSA-PSS-params ::= SEQUENCE { hashAlgorithm [0] AlgorithmIdentifier DEFAULT sha1, … } (RFC 4055). */
function pssHash(der: Uint8Array, params: DerElement | undefined): string {
  if (params?.tag !== TAG_SEQUENCE) return 'SHA-1';
  const explicit = children(der, params).find((c) => c.tag === TAG_CONTEXT_0);
  if (explicit === undefined) return 'SHA-1';
  const hashAlgorithm = children(der, explicit)[0];
  const hashId = hashAlgorithm === undefined ? undefined : children(der, hashAlgorithm)[0];
  if (hashId?.tag !== TAG_OID) return 'unknown';
  const dotted = decodeOid(der.subarray(hashId.contentStart, hashId.end));
  return HASHES[dotted] ?? dotted;
}

/** Dotted form of an OID's content: 40·a+b first, then base-128 arcs. */
function decodeOid(content: Uint8Array): string {
  const arcs: number[] = [];
  let value = 0;
  for (const byte of content) {
    value = value * 128 + (byte & 0x7f);
    if ((byte & 0x80) === 0) {
      if (arcs.length === 0) arcs.push(value < 80 ? Math.floor(value / 40) : 2, value < 80 ? value % 40 : value - 80);
      else arcs.push(value);
      value = 0;
    }
  }
  return arcs.join('.');
}
