import { endianness } from 'node:os';

export type Endianness = 'LE' | 'BE';

/** The byte order /proc prints in: the running host's, since it prints raw u32s. */
export const hostEndianness: Endianness = endianness();

export function formatIpv4(bytes: Uint8Array): string {
  return Array.from(bytes.subarray(0, 4)).join('.');
}

/**
 * RFC 5952 text: lower-case hex without leading zeros, the first longest run of
 * two or more zero groups written as `::`, IPv4-mapped addresses in dotted form.
 */
export function formatIpv6(bytes: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0));
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${formatIpv4(bytes.subarray(12, 16))}`;
  }
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart === -1) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/**
 * /proc/net/{tcp,udp,route} print IPv4 addresses as one u32 in host byte order
 * (`0100007F` is 127.0.0.1 on little-endian machines), tcp6/udp6 as four such
 * words; the bytes of each word are in network order only on big-endian hosts.
 */
export function procHexToBytes(hex: string, order: Endianness = hostEndianness): Uint8Array | undefined {
  if (!/^(?:[0-9A-Fa-f]{8}){1,4}$/.test(hex)) return undefined;
  const bytes = new Uint8Array(hex.length / 2);
  for (let word = 0; word < hex.length / 8; word++) {
    for (let b = 0; b < 4; b++) {
      const value = parseInt(hex.slice(word * 8 + b * 2, word * 8 + b * 2 + 2), 16);
      bytes[word * 4 + (order === 'LE' ? 3 - b : b)] = value;
    }
  }
  return bytes;
}

/** /proc/net/if_inet6 prints the 16 bytes in network order, unlike tcp6. */
export function networkHexToBytes(hex: string): Uint8Array | undefined {
  if (!/^[0-9A-Fa-f]{32}$/.test(hex)) return undefined;
  return Uint8Array.from(hex.match(/../g) ?? [], (pair) => parseInt(pair, 16));
}

export function parseIpv4Text(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return undefined;
  return parts.reduce((acc, p) => acc * 256 + Number(p), 0);
}
