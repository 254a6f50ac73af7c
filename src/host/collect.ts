import type { NodeFacts } from '../protocol/facts.js';
import { collectArch } from './arch.js';
import { collectCpuCount } from './cpu-count.js';
import { collectHostname } from './hostname.js';
import { type IpAddress, collectIpv4Addresses } from './ipv4-addresses.js';
import { collectIpv6Addresses } from './ipv6-addresses.js';
import { collectKernel } from './kernel.js';
import { collectListeningPorts } from './listening-ports.js';
import { collectMemoryBytes } from './memory.js';
import { collectOsRelease } from './os-release.js';
import { collectDpkgPackages } from './packages.js';
import { collectUptimeSeconds } from './uptime.js';

// The server hashes facts too, to store them only on change; one definition in
// the shared protocol keeps agent and server from ever disagreeing about it.
export { factsHash } from '../protocol/facts.js';

export interface CollectFactsOptions {
  /** The directory the host's files are read under; `/` on a real node. */
  root?: string;
  /** Milliseconds since the epoch, for `collectedAt`. */
  now?: () => number;
  /** Told about each collector that failed; its field is left absent or empty. */
  onError?: (collector: string, err: unknown) => void;
}

function compareIp(a: IpAddress, b: IpAddress): number {
  const ka = `${a.family} ${a.interface} ${a.address}`;
  const kb = `${b.family} ${b.interface} ${b.address}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

function dedupeAddresses(addresses: readonly IpAddress[]): IpAddress[] {
  const byKey = new Map<string, IpAddress>();
  for (const a of addresses) byKey.set(`${a.family} ${a.interface} ${a.address}`, a);
  return [...byKey.values()].sort(compareIp);
}

/**
 * Gathers the node's facts. Each collector runs on its own: one that fails
 * (a missing file, a permission error, a format it cannot read) costs only its
 * own field, so an odd host still reports everything else.
 */
export async function collectFacts(opts: CollectFactsOptions = {}): Promise<NodeFacts> {
  const root = opts.root ?? '/';
  const now = opts.now ?? Date.now;
  const safely = async <T>(name: string, collector: () => Promise<T>, fallback: T): Promise<T> => {
    try {
      return await collector();
    } catch (err) {
      opts.onError?.(name, err);
      return fallback;
    }
  };

  const [hostname, os, kernel, arch, cpuCount, memoryBytes, uptimeSeconds, ipv4, ipv6, listeningPorts, packages] =
    await Promise.all([
      safely('hostname', () => collectHostname(root), undefined),
      safely('os', () => collectOsRelease(root), {}),
      safely('kernel', () => collectKernel(root), undefined),
      safely('arch', () => collectArch(root), undefined),
      safely('cpuCount', () => collectCpuCount(root), undefined),
      safely('memoryBytes', () => collectMemoryBytes(root), undefined),
      safely('uptimeSeconds', () => collectUptimeSeconds(root), undefined),
      safely('ipv4Addresses', () => collectIpv4Addresses(root), []),
      safely('ipv6Addresses', () => collectIpv6Addresses(root), []),
      safely('listeningPorts', () => collectListeningPorts(root), []),
      safely('packages', () => collectDpkgPackages(root), undefined),
    ]);

  const facts: NodeFacts = {
    // The schema requires a hostname; an empty one tells the server it was unknown.
    hostname: hostname ?? '',
    os,
    ipAddresses: dedupeAddresses([...ipv4, ...ipv6]),
    listeningPorts,
    collectedAt: Math.floor(now()),
  };
  if (kernel !== undefined) facts.kernel = kernel;
  if (arch !== undefined) facts.arch = arch;
  if (cpuCount !== undefined) facts.cpuCount = cpuCount;
  if (memoryBytes !== undefined) facts.memoryBytes = memoryBytes;
  if (uptimeSeconds !== undefined) facts.uptimeSeconds = uptimeSeconds;
  if (packages !== undefined) facts.packages = packages;
  return facts;
}
