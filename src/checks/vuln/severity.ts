import { severityRank } from '../model.js';
import type { Severity } from '../model.js';

/**
 * Severities from the two signals advisory data carries: Debian's urgency and
 * CVSS v3 vectors. CVSS v2 and v4 are not scored here (v4 needs the
 * specification's lookup tables); callers fall back to urgency, then `medium`.
 */

/**
 * Debian urgency (tracker and OSV `ecosystem_specific`) to severity; undefined
 * when it says nothing about severity (`not yet assigned`, `end-of-life`).
 * Trailing asterisks mark urgencies the tracker took from NVD, not its own triage.
 */
export function severityFromUrgency(urgency: string): Severity | undefined {
  switch (urgency.replace(/\*+$/, '').trim().toLowerCase()) {
    case 'high':
      return 'high';
    case 'medium':
      return 'medium';
    case 'low':
      return 'low';
    // Debian's "affects Debian only nominally": kept visible, ranked below low.
    case 'unimportant':
      return 'info';
    default:
      return undefined;
  }
}

/** The worse of two severities. */
export function worseSeverity(a: Severity, b: Severity): Severity {
  return severityRank(a) >= severityRank(b) ? a : b;
}

/** CVSS qualitative rating of a base score (0.0 is "None", reported as info). */
export function severityFromScore(score: number): Severity {
  if (score >= 9) return 'critical';
  if (score >= 7) return 'high';
  if (score >= 4) return 'medium';
  if (score > 0) return 'low';
  return 'info';
}

const WEIGHTS = {
  AV: { N: 0.85, A: 0.62, L: 0.55, P: 0.2 },
  AC: { L: 0.77, H: 0.44 },
  UI: { N: 0.85, R: 0.62 },
  CIA: { H: 0.56, L: 0.22, N: 0 },
} as const;

function weight<T extends Record<string, number>>(table: T, value: string | undefined): number | undefined {
  return value !== undefined && Object.hasOwn(table, value) ? table[value] : undefined;
}

/** CVSS v3.1 "Roundup": the smallest one-decimal number ≥ x, immune to floating-point noise. */
function roundUp(x: number): number {
  const scaled = Math.round(x * 100000);
  return scaled % 10000 === 0 ? scaled / 100000 : (Math.floor(scaled / 10000) + 1) / 10;
}

/**
 * The base score of a CVSS v3.0/v3.1 vector (`CVSS:3.1/AV:N/AC:L/…`), or
 * undefined when the vector is not v3 or lacks a base metric. Temporal and
 * environmental metrics are ignored: advisories publish base scores. v3.0
 * vectors are scored with v3.1's Roundup, which differs from v3.0's only in
 * floating-point edge cases.
 */
export function cvss3BaseScore(vector: string): number | undefined {
  const [prefix, ...parts] = vector.trim().split('/');
  if (prefix !== 'CVSS:3.0' && prefix !== 'CVSS:3.1') return undefined;
  const metrics = new Map<string, string>();
  for (const part of parts) {
    const [name, value, extra] = part.split(':');
    if (name === undefined || value === undefined || extra !== undefined || metrics.has(name)) return undefined;
    metrics.set(name, value);
  }
  const scope = metrics.get('S');
  if (scope !== 'U' && scope !== 'C') return undefined;
  const changed = scope === 'C';
  const av = weight(WEIGHTS.AV, metrics.get('AV'));
  const ac = weight(WEIGHTS.AC, metrics.get('AC'));
  const ui = weight(WEIGHTS.UI, metrics.get('UI'));
  const pr = weight(changed ? { N: 0.85, L: 0.68, H: 0.5 } : { N: 0.85, L: 0.62, H: 0.27 }, metrics.get('PR'));
  const c = weight(WEIGHTS.CIA, metrics.get('C'));
  const i = weight(WEIGHTS.CIA, metrics.get('I'));
  const a = weight(WEIGHTS.CIA, metrics.get('A'));
  if (av === undefined || ac === undefined || ui === undefined || pr === undefined || c === undefined || i === undefined || a === undefined) {
    return undefined;
  }
  const iss = 1 - (1 - c) * (1 - i) * (1 - a);
  const impact = changed ? 7.52 * (iss - 0.029) - 3.25 * Math.pow(iss - 0.02, 15) : 6.42 * iss;
  if (impact <= 0) return 0;
  const exploitability = 8.22 * av * ac * pr * ui;
  return roundUp(Math.min((changed ? 1.08 : 1) * (impact + exploitability), 10));
}
