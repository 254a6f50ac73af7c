import { readHostFile } from './host-file.js';
import { formatIpv6, networkHexToBytes } from './ip-text.js';
import type { IpAddress } from './ipv4-addresses.js';

/**
 * /proc/net/if_inet6: one address a line as `address ifindex prefixlen scope
 * flags ifname`, the address as 32 hex digits in network order.
 */
export function parseIfInet6(text: string): IpAddress[] {
  const out: IpAddress[] = [];
  for (const line of text.split('\n')) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 6) continue;
    const bytes = networkHexToBytes(cols[0] ?? '');
    const ifname = cols[5];
    if (bytes === undefined || ifname === undefined) continue;
    out.push({ interface: ifname, address: formatIpv6(bytes), family: 'ipv6' });
  }
  return out;
}

export async function collectIpv6Addresses(root: string): Promise<IpAddress[]> {
  const text = await readHostFile(root, '/proc/net/if_inet6');
  return text === undefined ? [] : parseIfInet6(text);
}
