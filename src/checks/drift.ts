import type { Finding, FindingStatus } from './model.js';

export interface DriftResult {
  /** Checks that passed last time and fail now. */
  regressed: string[];
  /** Vulnerabilities failing now that were not failing last time. */
  newVulnerabilities: string[];
  /** Weak-TLS findings failing now that were not failing last time. */
  newTls: string[];
  /** Keys failing last time that no longer fail. */
  resolved: string[];
}

/**
 * What got worse (or better) since a node's previous result. A check counts as
 * regressed only when it passed before: a new check, or one that was not
 * applicable, failing for the first time is a finding, not drift. Vulnerability
 * and TLS findings exist only when they fail, so any new key is drift.
 */
export function computeDrift(previous: ReadonlyMap<string, FindingStatus>, current: readonly Finding[]): DriftResult {
  const drift: DriftResult = { regressed: [], newVulnerabilities: [], newTls: [], resolved: [] };
  const failingNow = new Set<string>();
  for (const f of current) {
    if (f.status !== 'fail') continue;
    failingNow.add(f.key);
    const before = previous.get(f.key);
    if (f.kind === 'check') {
      if (before === 'pass') drift.regressed.push(f.key);
    } else if (before !== 'fail') {
      (f.kind === 'vulnerability' ? drift.newVulnerabilities : drift.newTls).push(f.key);
    }
  }
  for (const [key, status] of previous) {
    if (status === 'fail' && !failingNow.has(key)) drift.resolved.push(key);
  }
  for (const list of Object.values(drift)) list.sort();
  return drift;
}

/** Whether anything got worse. */
export function isWorse(drift: DriftResult): boolean {
  return drift.regressed.length + drift.newVulnerabilities.length + drift.newTls.length > 0;
}
