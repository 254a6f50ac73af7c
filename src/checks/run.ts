import { rootCertificates } from 'node:tls';
import { isLiveRoot, readHostFile } from '../host/host-file.js';
import { collectOsRelease } from '../host/os-release.js';
import { parseDpkgStatus, type DpkgPackage } from '../host/dpkg-status.js';
import type { ListeningPort } from '../protocol/facts.js';
import { clampFinding } from './clamp.js';
import type { AuditHost } from './host.js';
import type { AuditError, Finding } from './model.js';
import { loadBuiltinPack } from './packs/index.js';
import { evaluatePolicy, parsePolicy, type Policy } from './policy/index.js';
import { parseTarget, scanTlsEndpoints, tlsFindings, type TlsTarget } from './tls/index.js';
import { indexAdvisories, matchVulnerabilities, type Advisory } from './vuln/index.js';

/** A policy to evaluate: a built-in pack by id, or a policy's YAML text. */
export type PolicySource = { builtin: string } | { id: string; text: string };

export interface AuditPlan {
  policies: readonly PolicySource[];
  /** Read the installed packages (dpkg) for vulnerability matching. */
  inventory: boolean;
  /** Scan this machine's own TCP listeners (live root only). */
  tlsListeners: boolean;
  tlsTargets: readonly string[];
}

export interface AuditRunOptions {
  now?: () => number;
  signal?: AbortSignal;
  /** Time budget of one TLS endpoint; default 5 s. */
  tlsBudgetMs?: number;
  /** How many listeners are scanned at most; default 64. */
  maxListeners?: number;
  /** Roots trusted in TLS scans besides the system's (e.g. the cluster CA). */
  tlsExtraCa?: readonly string[];
}

export interface PackageInventory {
  manager: 'dpkg';
  release?: string;
  packages: DpkgPackage[];
}

export interface AuditOutput {
  startedAt: number;
  finishedAt: number;
  findings: Finding[];
  errors: AuditError[];
  inventory?: PackageInventory;
}

/** Loads the plan's policies; one that cannot be loaded becomes an error, not a failed audit. */
export async function loadPolicies(sources: readonly PolicySource[]): Promise<{ policies: Policy[]; errors: AuditError[] }> {
  const policies: Policy[] = [];
  const errors: AuditError[] = [];
  for (const source of sources) {
    try {
      policies.push('builtin' in source ? await loadBuiltinPack(source.builtin) : parsePolicy(source.text, `${source.id}.yml`));
    } catch (err) {
      errors.push({ source: 'builtin' in source ? source.builtin : source.id, message: err instanceof Error ? err.message : String(err) });
    }
  }
  return { policies, errors };
}

/** The installed packages and release codename under the host's root, or undefined when it has no dpkg database. */
export async function readInventory(root: string): Promise<PackageInventory | undefined> {
  const status = await readHostFile(root, '/var/lib/dpkg/status');
  if (status === undefined) return undefined;
  const os = await collectOsRelease(root);
  return { manager: 'dpkg', ...(os.codename ? { release: os.codename } : {}), packages: parseDpkgStatus(status) };
}

/** Where to reach a listener from the same machine: a wildcard bind is reached on loopback. */
export function listenerTargets(ports: readonly ListeningPort[], max: number): TlsTarget[] {
  const seen = new Set<string>();
  const targets: TlsTarget[] = [];
  for (const p of ports) {
    if (p.protocol !== 'tcp' && p.protocol !== 'tcp6') continue;
    const host = p.address === '0.0.0.0' ? '127.0.0.1' : p.address === '::' ? '::1' : p.address;
    const key = `${host}:${p.port}`;
    if (seen.has(key)) continue;
    seen.add(key);
    targets.push({ host, port: p.port });
    if (targets.length >= max) break;
  }
  return targets;
}

/**
 * Runs one machine's audit: the policies, the package inventory, and the TLS
 * endpoints. Vulnerability matching is not done here: on a node the server
 * matches the inventory against its advisory data set (`matchInventory` is for
 * `bulwark audit local`).
 */
export async function runAudit(host: AuditHost, plan: AuditPlan, options: AuditRunOptions = {}): Promise<AuditOutput> {
  const now = options.now ?? Date.now;
  const startedAt = now();
  const findings: Finding[] = [];
  const { policies, errors } = await loadPolicies(plan.policies);
  for (const policy of policies) {
    const evaluation = await evaluatePolicy(policy, host, { now: now(), ...(options.signal ? { signal: options.signal } : {}) });
    findings.push(...evaluation.findings);
    errors.push(...evaluation.errors);
  }
  let inventory: PackageInventory | undefined;
  if (plan.inventory) {
    try {
      inventory = await readInventory(host.root);
      if (!inventory) errors.push({ source: 'inventory', message: 'no dpkg database (/var/lib/dpkg/status) under the root; packages were not checked' });
    } catch (err) {
      errors.push({ source: 'inventory', message: `reading the package database failed: ${err instanceof Error ? err.message : String(err)}` });
    }
  }
  const targets: TlsTarget[] = [];
  for (const text of plan.tlsTargets) {
    try {
      targets.push(parseTarget(text));
    } catch (err) {
      errors.push({ source: 'tls', message: err instanceof Error ? err.message : String(err) });
    }
  }
  const explicit = new Set(targets.map((t) => `${t.host}:${t.port}`));
  // A fixture tree's sockets are not this machine's: only a live root's listeners are scanned.
  if (plan.tlsListeners && isLiveRoot(host.root)) {
    const listeners = listenerTargets(await host.listening(), options.maxListeners ?? 64);
    targets.push(...listeners.filter((t) => !explicit.has(`${t.host}:${t.port}`)));
  }
  if (targets.length > 0) {
    const ca = options.tlsExtraCa?.length ? [...rootCertificates, ...options.tlsExtraCa] : undefined;
    const results = await scanTlsEndpoints(targets, { now: now(), budgetMs: options.tlsBudgetMs ?? 5000, concurrency: 4, ...(ca ? { ca } : {}), ...(options.signal ? { signal: options.signal } : {}) });
    for (const result of results) {
      findings.push(...tlsFindings(result));
      const where = `${result.target.host}:${result.target.port}`;
      // A listener that is not TLS is the normal case; a target the operator named must be reachable.
      if (result.error && explicit.has(where)) errors.push({ source: `tls ${where}`, message: result.error });
      else if (!result.tls && explicit.has(where)) errors.push({ source: `tls ${where}`, message: result.notTlsReason ?? 'the endpoint does not speak TLS' });
      if (result.incomplete) errors.push({ source: `tls ${where}`, message: `scan incomplete: ${result.incomplete}` });
    }
  }
  return { startedAt, finishedAt: now(), findings: findings.map(clampFinding), errors, ...(inventory ? { inventory } : {}) };
}

/** Matches an inventory against an advisory set held in memory (`bulwark audit local --vulndb`). */
export function matchInventory(inventory: PackageInventory, advisories: readonly Advisory[]): Finding[] {
  return matchVulnerabilities({ packages: inventory.packages, ...(inventory.release ? { release: inventory.release } : {}), advisories: indexAdvisories(advisories) });
}
