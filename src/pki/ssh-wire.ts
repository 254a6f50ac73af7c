/**
 * The SSH wire encodings of RFC 4251 §5 (string, uint32, uint64, mpint,
 * name-list), written here rather than taken from a library so the certificate
 * code depends on nothing but node:crypto.
 *
 * Every read is bounds-checked: the bytes usually come from a user (a pasted
 * public key, a certificate), so malformed input must become a BulwarkError with
 * a message, never a RangeError or an out-of-bounds read.
 */
import { BulwarkError } from '../core/errors.js';

const UINT32_MAX = 0xffff_ffff;
const UINT64_MAX = (1n << 64n) - 1n;

function malformed(what: string, why: string): BulwarkError {
  return new BulwarkError('INVALID_SSH_KEY', `${what} is malformed: ${why}`);
}

export function encodeUint32(value: number): Buffer {
  if (!Number.isInteger(value) || value < 0 || value > UINT32_MAX) {
    throw new BulwarkError('BAD_REQUEST', `uint32 out of range: ${value}`);
  }
  const out = Buffer.alloc(4);
  out.writeUInt32BE(value);
  return out;
}

export function encodeUint64(value: bigint): Buffer {
  if (value < 0n || value > UINT64_MAX) {
    throw new BulwarkError('BAD_REQUEST', `uint64 out of range: ${value}`);
  }
  const out = Buffer.alloc(8);
  out.writeBigUInt64BE(value);
  return out;
}

/** A length-prefixed byte string; text is encoded as UTF-8. */
export function encodeString(value: Uint8Array | string): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value);
  return Buffer.concat([encodeUint32(bytes.length), bytes]);
}

/**
 * Two's complement, big-endian, in the fewest bytes: zero is the empty string, and
 * a positive number whose top bit is set gets a leading 0x00 so it does not read
 * as negative (RFC 4251 §5).
 */
export function encodeMpint(value: bigint): Buffer {
  if (value === 0n) return encodeString(Buffer.alloc(0));
  const negative = value < 0n;
  // For a negative value, find the smallest byte count whose two's complement
  // range holds it, then encode value + 2^(8n).
  let bytes = 1;
  if (negative) {
    while (value < -(1n << BigInt(8 * bytes - 1))) bytes++;
  } else {
    while (value >= 1n << BigInt(8 * bytes - 1)) bytes++;
  }
  let rest = negative ? (1n << BigInt(8 * bytes)) + value : value;
  const out = Buffer.alloc(bytes);
  for (let i = bytes - 1; i >= 0; i--) {
    out[i] = Number(rest & 0xffn);
    rest >>= 8n;
  }
  return encodeString(out);
}

/** Comma-separated US-ASCII names; a name may be neither empty nor hold a comma. */
export function encodeNameList(names: readonly string[]): Buffer {
  for (const name of names) {
    if (name.length === 0 || name.includes(',') || !/^[\x21-\x7e]+$/.test(name)) {
      throw new BulwarkError('BAD_REQUEST', `"${name}" cannot be in a name-list: names are non-empty printable US-ASCII without commas`);
    }
  }
  return encodeString(names.join(','));
}

/** Concatenates encoded fields; a small convenience so callers read like the spec. */
export class SshWriter {
  readonly #parts: Buffer[] = [];

  uint32(value: number): this {
    this.#parts.push(encodeUint32(value));
    return this;
  }

  uint64(value: bigint): this {
    this.#parts.push(encodeUint64(value));
    return this;
  }

  string(value: Uint8Array | string): this {
    this.#parts.push(encodeString(value));
    return this;
  }

  mpint(value: bigint): this {
    this.#parts.push(encodeMpint(value));
    return this;
  }

  nameList(names: readonly string[]): this {
    this.#parts.push(encodeNameList(names));
    return this;
  }

  /** Bytes already encoded (e.g. a public key blob spliced into a certificate). */
  raw(bytes: Uint8Array): this {
    this.#parts.push(Buffer.from(bytes));
    return this;
  }

  toBuffer(): Buffer {
    return Buffer.concat(this.#parts);
  }
}

/**
 * Reads fields in order from one buffer. `what` names the thing being read
 * ("the public key", "the certificate") for the error message.
 */
export class SshReader {
  readonly #buf: Buffer;
  readonly #what: string;
  #pos = 0;

  constructor(buf: Uint8Array, what: string) {
    this.#buf = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
    this.#what = what;
  }

  /** Bytes consumed so far; the certificate signature covers exactly this prefix. */
  get offset(): number {
    return this.#pos;
  }

  get remaining(): number {
    return this.#buf.length - this.#pos;
  }

  #take(n: number, field: string): Buffer {
    if (n > this.remaining) {
      throw malformed(this.#what, `${field} needs ${n} bytes but only ${this.remaining} remain`);
    }
    const out = this.#buf.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return out;
  }

  uint32(field = 'uint32'): number {
    return this.#take(4, field).readUInt32BE(0);
  }

  uint64(field = 'uint64'): bigint {
    return this.#take(8, field).readBigUInt64BE(0);
  }

  /** A copy, so callers may keep it after the source buffer is reused. */
  string(field = 'string'): Buffer {
    const length = this.uint32(`the length of ${field}`);
    return Buffer.from(this.#take(length, field));
  }

  /** A string that must be valid UTF-8 (type names, key ids, principals). */
  text(field = 'string'): string {
    const bytes = this.string(field);
    const text = bytes.toString('utf8');
    if (!Buffer.from(text, 'utf8').equals(bytes)) throw malformed(this.#what, `${field} is not valid UTF-8`);
    return text;
  }

  /** Refuses non-minimal encodings, as RFC 4251 says they MUST NOT be sent. */
  mpint(field = 'mpint'): bigint {
    const bytes = this.string(field);
    if (bytes.length === 0) return 0n;
    const first = bytes[0] as number;
    const second = bytes[1];
    if ((first === 0x00 && (second === undefined || second < 0x80)) || (first === 0xff && second !== undefined && second >= 0x80)) {
      throw malformed(this.#what, `${field} has unnecessary leading bytes`);
    }
    let value = 0n;
    for (const byte of bytes) value = (value << 8n) | BigInt(byte);
    if (first >= 0x80) value -= 1n << BigInt(8 * bytes.length);
    return value;
  }

  nameList(field = 'name-list'): string[] {
    const text = this.text(field);
    if (text === '') return [];
    const names = text.split(',');
    for (const name of names) {
      if (!/^[\x21-\x7e]+$/.test(name)) throw malformed(this.#what, `${field} holds an empty or non-ASCII name`);
    }
    return names;
  }

  /** Trailing bytes mean the input is not what it claims to be. */
  end(): void {
    if (this.remaining !== 0) throw malformed(this.#what, `${this.remaining} unexpected trailing bytes`);
  }
}
