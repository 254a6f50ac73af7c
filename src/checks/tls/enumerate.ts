import type { ProbeOutcome } from './probe.js';
import type { Prober } from './prober.js';
import { CIPHER_SUITES, suiteName } from './suites.js';
import { versionFromCode, type TlsVersion } from './versions.js';

/**
 * Groups enumerated side by side. Each group is drained on its own (offer the
 * rest, the server picks one, remove it, repeat), so an endpoint with n accepted
 * suites costs about n + CHUNKS handshakes in chains of n / CHUNKS, instead of
 * one handshake per known suite.
 */
const CHUNKS = 4;

/** How a version answered a ClientHello offering every suite it could use. */
export interface VersionAnswer {
  outcome: ProbeOutcome;
  /** The suite the server picked, when it accepted this version. */
  suite?: number;
}

export async function probeVersion(prober: Prober, version: TlsVersion, candidates: readonly number[]): Promise<VersionAnswer> {
  const outcome = await prober.offer(version, candidates);
  // A server that does not speak the offered version may answer with an older
  // one: that refuses this version, it does not accept it.
  if (outcome.kind === 'server-hello' && versionFromCode(outcome.hello.version) === version) {
    return { outcome, suite: outcome.hello.cipherSuite };
  }
  return { outcome };
}

export interface SuiteEnumeration {
  /** Accepted suites in table order (by IANA code), so results compare run to run. */
  suites: number[];
  /** Why a group stopped before the server refused (timeouts, answers that made no sense). */
  problems: string[];
}

/** Finds every accepted suite of `version`, given the one the server picked from all `candidates`. */
export async function enumerateSuites(
  prober: Prober,
  version: TlsVersion,
  first: number,
  candidates: readonly number[],
): Promise<SuiteEnumeration> {
  const rest = candidates.filter((code) => code !== first);
  // Interleaved, not sliced: accepted suites cluster by code (0xc0xx ECDHE), and
  // spreading them evens out the chains.
  const groups = Array.from({ length: CHUNKS }, (_, g) => rest.filter((_code, i) => i % CHUNKS === g)).filter((g) => g.length > 0);
  const drained = await Promise.all(groups.map((group) => drain(prober, version, group)));
  const found = new Set([first, ...drained.flatMap((d) => d.suites)]);
  return {
    suites: CIPHER_SUITES.filter((s) => found.has(s.code)).map((s) => s.code),
    problems: drained.flatMap((d) => d.problems),
  };
}

async function drain(prober: Prober, version: TlsVersion, group: readonly number[]): Promise<SuiteEnumeration> {
  const remaining = [...group];
  const suites: number[] = [];
  const problems: string[] = [];
  while (remaining.length > 0) {
    const outcome = await prober.offer(version, remaining);
    if (outcome.kind === 'alert' || outcome.kind === 'closed') break;
    if (outcome.kind !== 'server-hello') {
      problems.push(`${version} suite enumeration stopped: ${describeOutcome(outcome)}`);
      break;
    }
    if (versionFromCode(outcome.hello.version) !== version) break;
    const index = remaining.indexOf(outcome.hello.cipherSuite);
    if (index === -1) {
      // Continuing could loop forever on a server that ignores the offer.
      problems.push(`${version}: the server chose ${suiteName(outcome.hello.cipherSuite)}, which was not offered`);
      break;
    }
    remaining.splice(index, 1);
    suites.push(outcome.hello.cipherSuite);
  }
  return { suites, problems };
}

/**
 * Whether the server imposes its own order: offered the accepted suites in two
 * opposite orders, a server that follows the client picks each order's first.
 * null when fewer than two suites are accepted or the answers fit neither reading
 * (e.g. OpenSSL's "prioritise ChaCha20" exception).
 */
export async function detectServerPreference(prober: Prober, version: TlsVersion, suites: readonly number[]): Promise<boolean | null> {
  if (suites.length < 2) return null;
  const forward = [...suites];
  const backward = [...suites].reverse();
  const [a, b] = await Promise.all([prober.offer(version, forward), prober.offer(version, backward)]);
  if (a.kind !== 'server-hello' || b.kind !== 'server-hello') return null;
  if (a.hello.cipherSuite === b.hello.cipherSuite) return true;
  if (a.hello.cipherSuite === forward[0] && b.hello.cipherSuite === backward[0]) return false;
  return null;
}

export function describeOutcome(outcome: ProbeOutcome): string {
  switch (outcome.kind) {
    case 'server-hello':
      return `ServerHello with ${suiteName(outcome.hello.cipherSuite)}`;
    case 'alert':
      return `alert ${outcome.name}`;
    case 'not-tls':
      return `not TLS: ${outcome.reason}`;
    case 'closed':
      return `connection ${outcome.reason}`;
    case 'timeout':
      return 'no answer in time';
    case 'unreachable':
      return `connection failed: ${outcome.reason}`;
  }
}
