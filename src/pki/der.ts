/**
 * The few DER (X.690) encodings the CRL needs, and a reader just able to find a
 * certificate's subject. Hand-written because the general ASN.1 library took
 * seconds for a CRL of ten thousand entries.
 */

const TAG_INTEGER = 0x02;
const TAG_BIT_STRING = 0x03;
const TAG_OCTET_STRING = 0x04;
const TAG_OID = 0x06;
const TAG_UTC_TIME = 0x17;
const TAG_GENERALIZED_TIME = 0x18;
const TAG_SEQUENCE = 0x30;

/** Bytes of a definite length: one below 128 (short form), else 0x80|n and n big-endian bytes. */
function lengthSize(length: number): number {
  if (length < 0x80) return 1;
  let size = 1;
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) size++;
  return size;
}

/** Writes tag and length at the start of `out`; returns where the content begins. */
function writeHeader(out: Buffer, tag: number, length: number): number {
  out[0] = tag;
  if (length < 0x80) {
    out[1] = length;
    return 2;
  }
  const count = lengthSize(length) - 1;
  out[1] = 0x80 | count;
  for (let i = count, rest = length; i >= 1; i--, rest = Math.floor(rest / 256)) out[1 + i] = rest % 256;
  return 2 + count;
}

/** One TLV with the given tag around already-encoded content. */
export function tlv(tag: number, ...content: Uint8Array[]): Buffer {
  return tlvOf(tag, content);
}

/** As `tlv`, taking the parts as an array: a list of many thousand entries is not spread into arguments. */
export function tlvOf(tag: number, content: readonly Uint8Array[]): Buffer {
  let length = 0;
  for (const part of content) length += part.length;
  const out = Buffer.allocUnsafe(1 + lengthSize(length) + length);
  let offset = writeHeader(out, tag, length);
  for (const part of content) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

export function sequence(...content: Uint8Array[]): Buffer {
  return tlvOf(TAG_SEQUENCE, content);
}

/** SEQUENCE OF: the already-encoded elements in the given order. */
export function sequenceOf(elements: readonly Uint8Array[]): Buffer {
  return tlvOf(TAG_SEQUENCE, elements);
}

/** `[n] EXPLICIT`: a constructed context-specific tag around one encoding. */
export function explicit(tagNumber: number, ...content: Uint8Array[]): Buffer {
  return tlv(0xa0 | tagNumber, ...content);
}

/** `[n] IMPLICIT` of a primitive type: a primitive context-specific tag around the raw value. */
export function implicitPrimitive(tagNumber: number, value: Uint8Array): Buffer {
  return tlv(0x80 | tagNumber, value);
}

export function octetString(value: Uint8Array): Buffer {
  return tlv(TAG_OCTET_STRING, value);
}

/** BIT STRING with no unused bits in the last byte. */
export function bitString(value: Uint8Array): Buffer {
  return tlv(TAG_BIT_STRING, Buffer.from([0]), value);
}

/**
 * Non-negative INTEGER from hexadecimal: minimal big-endian bytes, with a 0x00
 * in front when the top bit is set so the value stays positive.
 */
export function integerFromHex(hex: string): Buffer {
  if (!/^[0-9a-fA-F]*$/.test(hex)) throw new TypeError(`"${hex}" is not hexadecimal`);
  let clean = hex.replace(/^0+/, '');
  if (clean.length % 2 === 1) clean = `0${clean}`;
  let value = Buffer.from(clean, 'hex');
  if (value.length === 0 || (value[0] ?? 0) & 0x80) value = Buffer.concat([Buffer.from([0]), value]);
  return tlv(TAG_INTEGER, value);
}

export function integer(value: number): Buffer {
  if (!Number.isSafeInteger(value) || value < 0) throw new TypeError(`${value} is not a non-negative safe integer`);
  return integerFromHex(value.toString(16));
}

/** OBJECT IDENTIFIER from dotted form: 40·a+b first, then base-128 with continuation bits. */
export function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map((arc) => {
    if (!/^\d+$/.test(arc)) throw new TypeError(`"${dotted}" is not an object identifier`);
    return Number(arc);
  });
  const [first, second, ...rest] = arcs;
  if (first === undefined || second === undefined || first > 2 || (first < 2 && second > 39)) {
    throw new TypeError(`"${dotted}" is not an object identifier`);
  }
  const bytes: number[] = [];
  for (const arc of [first * 40 + second, ...rest]) {
    if (!Number.isSafeInteger(arc)) throw new TypeError(`"${dotted}" has an arc too large`);
    const chunk = [arc % 128];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift(0x80 | (v % 128));
    bytes.push(...chunk);
  }
  return tlv(TAG_OID, Buffer.from(bytes));
}

/**
 * X.509 Time (RFC 5280 §4.1.2.5): UTCTime YYMMDDHHMMSSZ through 2049,
 * GeneralizedTime YYYYMMDDHHMMSSZ from 2050. Whole seconds, always Zulu.
 */
export function time(ms: number): Buffer {
  const d = new Date(ms);
  const year = d.getUTCFullYear();
  if (!Number.isFinite(ms) || year < 1950 || year > 9999) throw new TypeError(`${ms} cannot be encoded as an X.509 time`);
  const two = (n: number): string => String(n).padStart(2, '0');
  const rest = `${two(d.getUTCMonth() + 1)}${two(d.getUTCDate())}${two(d.getUTCHours())}${two(d.getUTCMinutes())}${two(d.getUTCSeconds())}Z`;
  const text = year < 2050 ? `${two(year % 100)}${rest}` : `${year}${rest}`;
  const out = Buffer.allocUnsafe(2 + text.length);
  writeHeader(out, year < 2050 ? TAG_UTC_TIME : TAG_GENERALIZED_TIME, text.length);
  out.write(text, 2, 'latin1');
  return out;
}

/** One element read from DER: its tag, and where its header and content lie in the input. */
export interface DerElement {
  tag: number;
  start: number;
  contentStart: number;
  end: number;
}

/** Reads the element at `offset`; single-byte tags and definite lengths only, bounds checked. */
export function readElement(der: Uint8Array, offset: number): DerElement {
  const tag = der[offset];
  const first = der[offset + 1];
  if (tag === undefined || first === undefined) throw new RangeError('DER ends inside an element header');
  if ((tag & 0x1f) === 0x1f) throw new RangeError('multi-byte DER tags are not supported');
  let length = first;
  let contentStart = offset + 2;
  if (first & 0x80) {
    const count = first & 0x7f;
    if (count === 0 || count > 4) throw new RangeError('unsupported DER length');
    length = 0;
    for (let i = 0; i < count; i++) {
      const byte = der[contentStart + i];
      if (byte === undefined) throw new RangeError('DER ends inside a length');
      length = length * 256 + byte;
    }
    contentStart += count;
  }
  const end = contentStart + length;
  if (end > der.length) throw new RangeError('DER element runs past the end of the input');
  return { tag, start: offset, contentStart, end };
}

/** The children of a constructed element, in order. */
export function children(der: Uint8Array, parent: DerElement): DerElement[] {
  const out: DerElement[] = [];
  for (let offset = parent.contentStart; offset < parent.end; ) {
    const child = readElement(der, offset);
    if (child.end > parent.end) throw new RangeError('DER child runs past its parent');
    out.push(child);
    offset = child.end;
  }
  return out;
}

/**
 * The subject Name of a DER certificate, byte for byte as the certificate holds
 * it: Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL,
 * serialNumber, signature, issuer, validity, subject, … }, … }.
 */
export function certificateSubject(certDer: Uint8Array): Buffer {
  const cert = readElement(certDer, 0);
  if (cert.tag !== TAG_SEQUENCE) throw new RangeError('a certificate is a SEQUENCE');
  const tbs = children(certDer, cert)[0];
  if (tbs?.tag !== TAG_SEQUENCE) throw new RangeError('a TBSCertificate is a SEQUENCE');
  const fields = children(certDer, tbs);
  const skip = fields[0]?.tag === 0xa0 ? 1 : 0;
  const subject = fields[skip + 4];
  if (subject?.tag !== TAG_SEQUENCE) throw new RangeError('the certificate subject is not a SEQUENCE');
  return Buffer.from(certDer.subarray(subject.start, subject.end));
}
