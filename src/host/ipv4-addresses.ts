import type { NodeFacts } from '../protocol/facts.js';
import { readHostFile } from './host-file.js';
import { type Endianness, hostEndianness, parseIpv4Text, procHexToBytes } from './ip-text.js';

export type IpAddress = NodeFacts['ipAddresses'][number];

export interface Ipv4Route {
  iface: string;
  destination: number;
  mask: number;
}

const RTF_UP = 0x1;
const RTF_GATEWAY = 0x2;

/**
 * The host's own IPv4 addresses from /proc/net/fib_trie: each leaf (`|-- a.b.c.d`)
 * is followed by one line per route for it, and a local address is the leaf that
 * carries a `/32 host LOCAL` route. Network (`/8 host LOCAL`) and broadcast
 * (`/32 link BROADCAST`) routes are not addresses. Main and Local tables repeat
 * the same leaves, so the result is deduplicated.
 */
export function parseFibTrieLocalAddresses(text: string): string[] {
  const found = new Set<string>();
  let leaf: string | undefined;
  for (const line of text.split('\n')) {
    const leafMatch = /^[\s|]*\|-- (\d+\.\d+\.\d+\.\d+)\s*$/.exec(line);
    if (leafMatch?.[1] !== undefined) {
      leaf = leafMatch[1];
      continue;
    }
    const routeMatch = /^\s*\/(\d+) (\S+) (\S+)/.exec(line);
    if (routeMatch !== null) {
      if (leaf !== undefined && routeMatch[1] === '32' && routeMatch[2] === 'host' && routeMatch[3] === 'LOCAL') found.add(leaf);
      continue;
    }
    // An internal node (`+-- prefix/len`) or a table header ends the current leaf.
    leaf = undefined;
  }
  return [...found];
}

function bytesToU32(bytes: Uint8Array): number {
  return (((bytes[0] ?? 0) << 24) | ((bytes[1] ?? 0) << 16) | ((bytes[2] ?? 0) << 8) | (bytes[3] ?? 0)) >>> 0;
}

/**
 * The directly connected prefixes of /proc/net/route (the main table only).
 * Routes through a gateway and default routes say where traffic goes, not which
 * interface holds an address, so they are left out.
 */
export function parseConnectedRoutes(text: string, order: Endianness = hostEndianness): Ipv4Route[] {
  const routes: Ipv4Route[] = [];
  for (const line of text.split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    const [iface, destHex, , flagsHex, , , , maskHex] = cols;
    if (iface === undefined || destHex === undefined || flagsHex === undefined || maskHex === undefined) continue;
    const flags = parseInt(flagsHex, 16);
    if (!(flags & RTF_UP) || flags & RTF_GATEWAY) continue;
    const dest = procHexToBytes(destHex, order);
    const mask = procHexToBytes(maskHex, order);
    if (dest === undefined || mask === undefined) continue;
    const maskValue = bytesToU32(mask);
    if (maskValue === 0) continue;
    routes.push({ iface, destination: bytesToU32(dest), mask: maskValue });
  }
  return routes;
}

function popcount(n: number): number {
  let count = 0;
  for (let v = n >>> 0; v !== 0; v >>>= 1) count += v & 1;
  return count;
}

/**
 * Longest-prefix match of an address over the connected routes. Loopback
 * addresses live in the local table, which /proc/net/route does not show, so a
 * 127/8 address no route claims is put on `lo`, where Linux puts that range.
 */
export function interfaceForIpv4(address: string, routes: readonly Ipv4Route[]): string {
  const value = parseIpv4Text(address);
  if (value === undefined) return 'unknown';
  let best: Ipv4Route | undefined;
  for (const route of routes) {
    if (((value & route.mask) >>> 0) !== route.destination) continue;
    if (best === undefined || popcount(route.mask) > popcount(best.mask)) best = route;
  }
  if (best !== undefined) return best.iface;
  return value >>> 24 === 127 ? 'lo' : 'unknown';
}

export async function collectIpv4Addresses(root: string, order: Endianness = hostEndianness): Promise<IpAddress[]> {
  const trie = await readHostFile(root, '/proc/net/fib_trie');
  if (trie === undefined) return [];
  const routeText = await readHostFile(root, '/proc/net/route').catch(() => undefined);
  const routes = routeText === undefined ? [] : parseConnectedRoutes(routeText, order);
  return parseFibTrieLocalAddresses(trie).map((address) => ({
    interface: interfaceForIpv4(address, routes),
    address,
    family: 'ipv4' as const,
  }));
}
