import type { ListeningPort } from '../protocol/facts.js';
import { readHostFile } from './host-file.js';
import { type Endianness, formatIpv4, formatIpv6, hostEndianness, procHexToBytes } from './ip-text.js';
import { findSocketOwners } from './socket-owners.js';

export type SocketProtocol = ListeningPort['protocol'];

export interface ListeningSocket {
  protocol: SocketProtocol;
  address: string;
  port: number;
  inode: number;
}

const PROTOCOLS: readonly SocketProtocol[] = ['tcp', 'tcp6', 'udp', 'udp6'];
const TCP_LISTEN = '0A';
// UDP has no LISTEN; an unconnected socket sits in TCP_CLOSE (07) with no peer.
const UDP_UNCONNECTED = '07';

function parseEndpoint(text: string, order: Endianness): { address: string; port: number; zero: boolean } | undefined {
  const [hex, portHex] = text.split(':');
  if (hex === undefined || portHex === undefined) return undefined;
  const bytes = procHexToBytes(hex, order);
  if (bytes === undefined || (bytes.length !== 4 && bytes.length !== 16)) return undefined;
  // The port is printed after ntohs, so it reads as a plain number.
  const port = parseInt(portHex, 16);
  if (!Number.isInteger(port) || port < 0 || port > 65535) return undefined;
  const address = bytes.length === 4 ? formatIpv4(bytes) : formatIpv6(bytes);
  return { address, port, zero: port === 0 && bytes.every((b) => b === 0) };
}

/** The listening sockets of one /proc/net/{tcp,tcp6,udp,udp6} table. */
export function parseSocketTable(text: string, protocol: SocketProtocol, order: Endianness = hostEndianness): ListeningSocket[] {
  const out: ListeningSocket[] = [];
  const tcp = protocol.startsWith('tcp');
  for (const line of text.split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    const [, localText, remoteText, state, , , , , , inodeText] = cols;
    if (localText === undefined || remoteText === undefined || state === undefined || inodeText === undefined) continue;
    const local = parseEndpoint(localText, order);
    const remote = parseEndpoint(remoteText, order);
    if (local === undefined || remote === undefined) continue;
    const listening = tcp ? state.toUpperCase() === TCP_LISTEN : state.toUpperCase() === UDP_UNCONNECTED && remote.zero;
    if (!listening) continue;
    out.push({ protocol, address: local.address, port: local.port, inode: Number(inodeText) });
  }
  return out;
}

function comparePorts(a: ListeningPort, b: ListeningPort): number {
  if (a.protocol !== b.protocol) return a.protocol < b.protocol ? -1 : 1;
  if (a.port !== b.port) return a.port - b.port;
  return a.address < b.address ? -1 : a.address > b.address ? 1 : 0;
}

/**
 * One entry per protocol, address and port, sorted by protocol then port. Several
 * sockets can share a port (SO_REUSEPORT, several processes); the entry names the
 * lowest-pid owner that could be seen, so it is stable between collections.
 */
export function mergeListeningPorts(ports: readonly ListeningPort[]): ListeningPort[] {
  const byKey = new Map<string, ListeningPort>();
  for (const port of ports) {
    const key = `${port.protocol} ${port.address} ${port.port}`;
    const seen = byKey.get(key);
    if (seen === undefined || (port.process !== undefined && (seen.process === undefined || port.process.pid < seen.process.pid))) {
      byKey.set(key, port);
    }
  }
  return [...byKey.values()].sort(comparePorts);
}

export async function collectListeningPorts(root: string, order: Endianness = hostEndianness): Promise<ListeningPort[]> {
  const sockets: ListeningSocket[] = [];
  for (const protocol of PROTOCOLS) {
    // A kernel without IPv6 has no tcp6/udp6; one missing table does not void the rest.
    const text = await readHostFile(root, `/proc/net/${protocol}`).catch(() => undefined);
    if (text !== undefined) sockets.push(...parseSocketTable(text, protocol, order));
  }
  const inodes = new Set(sockets.map((s) => s.inode).filter((inode) => inode > 0));
  const owners = await findSocketOwners(root, inodes);
  return mergeListeningPorts(
    sockets.map(({ protocol, address, port, inode }) => {
      const owner = owners.get(inode);
      return owner === undefined ? { protocol, address, port } : { protocol, address, port, process: { pid: owner.pid, name: owner.name } };
    }),
  );
}
