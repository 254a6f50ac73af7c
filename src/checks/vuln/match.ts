import type { DpkgPackage } from '../../host/dpkg-status.js';
import { clampEvidence } from '../model.js';
import type { Finding, Severity } from '../model.js';
import type { Advisory, AffectedRange } from './advisory.js';
import { compareDebianVersions, compareParsedDebianVersions, debianVersionProblem, parseDebianVersion } from './debian-version.js';
import type { DebianVersion } from './debian-version.js';
import { worseSeverity } from './severity.js';

export interface MatchInput {
  packages: readonly DpkgPackage[];
  /** The node's Debian codename (`VERSION_CODENAME` of os-release); unknown means only release-less ranges apply. */
  release?: string;
  /** The advisories naming a package (source or binary name), e.g. `indexAdvisories(list)` or the server's store. */
  advisories: (packageName: string) => Iterable<Advisory> | Advisory[];
}

/** One advisory found to affect one installed binary package, before deduplication. */
interface Match {
  advisory: Advisory;
  range: AffectedRange;
  severity: Severity;
}

/**
 * The vulnerabilities of the installed packages: one failed finding per
 * (advisory, binary package). A range applies when its release is the node's
 * (or unset) and it names the package's source (compared with the source
 * version, which a binNMU's `+bN` binary version differs from) or the binary
 * itself (compared with the binary version). Release-specific ranges decide
 * over release-less ones, so the tracker's per-release fixed version, a
 * backported fix such as `2.36-9+deb12u3`, is what a bookworm node is judged by.
 */
export function matchVulnerabilities(input: MatchInput): Finding[] {
  const findings: Finding[] = [];
  for (const pkg of input.packages) {
    // dpkg refuses to install such versions: a damaged status entry cannot be compared.
    if (debianVersionProblem(pkg.version) !== undefined || debianVersionProblem(pkg.sourceVersion) !== undefined) continue;
    const installed = { binary: parseDebianVersion(pkg.version), source: parseDebianVersion(pkg.sourceVersion) };
    const seen = new Set<Advisory>();
    const matches: Match[] = [];
    for (const name of new Set([pkg.source, pkg.name])) {
      for (const advisory of input.advisories(name)) {
        if (seen.has(advisory)) continue;
        seen.add(advisory);
        const range = matchingRange(advisory, pkg, installed, input.release);
        if (range) matches.push({ advisory, range, severity: range.severity ?? advisory.severity });
      }
    }
    for (const group of groupAliases(matches)) findings.push(toFinding(pkg, input.release, group));
  }
  return findings.sort((a, b) => compareText(a.location ?? '', b.location ?? '') || compareText(a.ruleId, b.ruleId));
}

function matchingRange(
  advisory: Advisory,
  pkg: DpkgPackage,
  installed: { binary: DebianVersion; source: DebianVersion },
  release: string | undefined,
): AffectedRange | undefined {
  const applicable = advisory.affected.filter(
    (r) => (r.release === undefined || r.release === release) && r.package === (r.packageKind === 'source' ? pkg.source : pkg.name),
  );
  const specific = applicable.filter((r) => r.release !== undefined);
  const considered = specific.length > 0 ? specific : applicable;
  if (considered.some((r) => r.notAffected === true)) return undefined;
  const hits = considered.filter((r) => inRange(r.packageKind === 'source' ? installed.source : installed.binary, r));
  // A hit naming a fix tells the user what to install.
  return hits.find((r) => r.fixed !== undefined) ?? hits[0];
}

function inRange(version: DebianVersion, range: AffectedRange): boolean {
  if (range.introduced !== undefined && compareParsedDebianVersions(version, parseDebianVersion(range.introduced)) < 0) return false;
  if (range.fixed !== undefined) return compareParsedDebianVersions(version, parseDebianVersion(range.fixed)) < 0;
  if (range.lastAffected !== undefined) return compareParsedDebianVersions(version, parseDebianVersion(range.lastAffected)) <= 0;
  return true;
}

/**
 * Matches that are one problem: same id, or one naming the other among its
 * aliases (a DSA listing the CVE the tracker reports). Union-find over ids, so
 * a package with thousands of open issues (the kernel) stays linear.
 */
function groupAliases(matches: Match[]): Match[][] {
  const parent = matches.map((_, i) => i);
  const find = (i: number): number => {
    let root = i;
    while (parent[root] !== root) root = parent[root] ?? root;
    parent[i] = root;
    return root;
  };
  const union = (a: number, b: number): void => {
    parent[find(a)] = find(b);
  };
  const byId = new Map<string, number>();
  matches.forEach((m, i) => {
    const first = byId.get(m.advisory.id);
    if (first === undefined) byId.set(m.advisory.id, i);
    else union(i, first);
  });
  matches.forEach((m, i) => {
    for (const alias of m.advisory.aliases) {
      const other = byId.get(alias);
      if (other !== undefined) union(i, other);
    }
  });
  const groups = new Map<number, Match[]>();
  matches.forEach((m, i) => {
    const root = find(i);
    const group = groups.get(root);
    if (group) group.push(m);
    else groups.set(root, [m]);
  });
  return [...groups.values()];
}

/**
 * The advisory a group is reported under: one with a fix first (the highest
 * fix, which covers the others), then the one naming most aliases (a DSA over
 * the CVEs it lists), then by id so the choice is stable.
 */
function preferred(a: Match, b: Match): number {
  const fa = a.range.fixed;
  const fb = b.range.fixed;
  if (fa !== undefined && fb === undefined) return -1;
  if (fa === undefined && fb !== undefined) return 1;
  if (fa !== undefined && fb !== undefined) {
    const byFix = compareDebianVersions(fb, fa);
    if (byFix !== 0) return byFix;
  }
  return b.advisory.aliases.length - a.advisory.aliases.length || compareText(a.advisory.id, b.advisory.id);
}

function toFinding(pkg: DpkgPackage, release: string | undefined, group: Match[]): Finding {
  const [chosen] = [...group].sort(preferred);
  if (!chosen) throw new Error('empty match group');
  const { advisory, range } = chosen;
  const aliases = new Set<string>();
  const references: string[] = [];
  let severity = chosen.severity;
  for (const m of [chosen, ...group.filter((m) => m !== chosen)]) {
    aliases.add(m.advisory.id);
    for (const alias of m.advisory.aliases) aliases.add(alias);
    for (const ref of m.advisory.references) if (!references.includes(ref)) references.push(ref);
    // Merged reports keep the gravest assessment of the problem.
    severity = worseSeverity(severity, m.severity);
  }
  aliases.delete(advisory.id);
  const headline = advisory.summary.split('\n').find((line) => line.trim() !== '')?.trim();
  const details: NonNullable<Finding['details']> = {
    package: pkg.name,
    installed: pkg.version,
    fixed: range.fixed ?? 'none',
    source: pkg.source,
    sourceVersion: pkg.sourceVersion,
    aliases: [...aliases].sort(),
  };
  if (release !== undefined) details.release = release;
  if (advisory.scope !== undefined) details.scope = advisory.scope;
  return {
    kind: 'vulnerability',
    key: `vulnerability:${advisory.id}/${pkg.name}`,
    ruleId: advisory.id,
    source: advisory.origin,
    title: headline ? `${advisory.id} in ${pkg.name}: ${headline}` : `${advisory.id} in ${pkg.name}`,
    severity,
    status: 'fail',
    evidence: clampEvidence(evidence(pkg, advisory.id, range)),
    remediation: remediation(pkg, range),
    references,
    location: pkg.name,
    details,
  };
}

/** Why it matched, e.g. `libssl3 3.0.15-1~deb12u1 (source openssl 3.0.15-1~deb12u1) < fixed 3.0.16-1~deb12u1 for bookworm (CVE-2024-13176)`. */
function evidence(pkg: DpkgPackage, id: string, range: AffectedRange): string {
  const subject = range.packageKind === 'source' ? `${pkg.name} ${pkg.version} (source ${pkg.source} ${pkg.sourceVersion})` : `${pkg.name} ${pkg.version}`;
  const bounds: string[] = [];
  if (range.introduced !== undefined) bounds.push(`>= introduced ${range.introduced}`);
  if (range.fixed !== undefined) bounds.push(`< fixed ${range.fixed}`);
  else if (range.lastAffected !== undefined) bounds.push(`<= last affected ${range.lastAffected}`);
  const scope = range.release === undefined ? '' : ` for ${range.release}`;
  if (range.fixed === undefined && range.lastAffected === undefined) {
    return `${subject}${bounds.length > 0 ? ` ${bounds.join(' and ')},` : ''} no fix${scope} yet (${id})`;
  }
  return `${subject} ${bounds.join(' and ')}${scope} (${id})`;
}

function remediation(pkg: DpkgPackage, range: AffectedRange): string {
  if (range.fixed === undefined) return `No fixed version of ${range.package} is known${range.release ? ` for ${range.release}` : ''}; follow the advisory for mitigations.`;
  if (range.packageKind === 'source' && range.package !== pkg.name) return `Upgrade ${pkg.name} to a version built from ${range.package} ${range.fixed} or later.`;
  return `Upgrade ${pkg.name} to ${range.fixed} or later.`;
}

/** Code-point order, independent of the locale. */
function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
