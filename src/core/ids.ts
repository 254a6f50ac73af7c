import { randomBytes } from 'node:crypto';

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

/** Lower-case base32 (RFC 4648 alphabet, no padding): safe in URLs, SANs and file names. */
export function base32(bytes: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

/** A random id with a readable prefix, e.g. `node_k3v…` (80 random bits). */
export function newId(prefix: string): string {
  return `${prefix}_${base32(randomBytes(10))}`;
}

/** A positive 128-bit X.509 serial number as lower-case hex without leading zeros. */
export function newSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f | 0x01;
  return normaliseSerial(bytes.toString('hex'));
}

/** Serial numbers are compared as lower-case hex without leading zeros, whatever printed them. */
export function normaliseSerial(hex: string): string {
  const clean = hex.replace(/:/g, '').toLowerCase().replace(/^0+/, '');
  return clean === '' ? '0' : clean;
}
