import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { VERSION } from '../../core/version.js';
import { SEVERITIES, severityRank, type Finding, type FleetReport, type Severity } from '../model.js';
import { clampText } from './text.js';
import { httpUrl } from './url.js';
import { buildReportView, type NodeView } from './view.js';

/**
 * SARIF 2.1.0 (OASIS), shaped for GitHub code scanning: one run of the `bulwark`
 * tool, a rule per distinct source + rule id, a result per failed finding.
 *
 * Every result carries a physical location, even a package or a TLS endpoint:
 * GitHub rejects the whole upload when any result has only a logical location
 * ("expected a physical location"). The artifact URI is the node's name, followed
 * by the file's path when the finding is about a file, relative to the `FLEET`
 * base; the node is also given as a logical location.
 */
export const SARIF_SCHEMA = 'https://json.schemastore.org/sarif-2.1.0.json';
const SARIF_VERSION = '2.1.0';

/** GitHub maps over 9.0 to critical, 7.0–8.9 high, 4.0–6.9 medium, 0.1–3.9 low, 0.0 to none. */
const SECURITY_SEVERITY: Record<Severity, string> = { critical: '9.5', high: '8.0', medium: '5.5', low: '3.0', info: '0.0' };
const LEVEL: Record<Severity, 'error' | 'warning' | 'note'> = { critical: 'error', high: 'error', medium: 'warning', low: 'note', info: 'note' };

/** GitHub shows at most this much of a rule's descriptions. */
const GITHUB_DESCRIPTION_CHARS = 1024;
const URI_BASE = 'FLEET';
const FINGERPRINT = 'bulwarkFinding/v1';

export function renderSarifReport(report: FleetReport): string {
  const view = buildReportView(report);
  const rules = collectRules(view.nodes);
  const ruleIndex = new Map(rules.map((rule, index) => [rule.id, index]));
  const results = view.nodes.flatMap((node) =>
    node.findings
      .filter((f) => f.status === 'fail')
      .map((f) => {
        const id = ruleIdOf(f);
        return sarifResult(node, f, id, ruleIndex.get(id) ?? 0);
      }),
  );
  const log = {
    $schema: SARIF_SCHEMA,
    version: SARIF_VERSION,
    runs: [
      {
        tool: { driver: { name: 'bulwark', version: VERSION, semanticVersion: VERSION, rules } },
        originalUriBaseIds: {
          [URI_BASE]: { description: { text: 'The fleet: the first path segment is a node name, the rest a path on that node.' } },
        },
        // Audit errors are not results (nothing was found); SARIF's place for them is the
        // invocation. Each stopped one source on one node, not the run, hence still "successful".
        invocations: [
          {
            executionSuccessful: true,
            toolExecutionNotifications: view.nodes.flatMap((node) =>
              node.errors.map((e) => ({
                level: 'error',
                message: { text: `${node.nodeName}: ${e.source}: ${e.message}` },
                properties: { nodeId: node.nodeId, nodeName: node.nodeName, source: e.source },
              })),
            ),
          },
        ],
        results,
        properties: { title: view.title, generatedAt: view.generatedAt },
      },
    ],
  };
  return `${JSON.stringify(log, null, 2)}\n`;
}

/**
 * A rule id made of the source and the finding's rule id only, so it is the same
 * in every run whatever else the fleet reported. Both parts are escaped so that
 * `a/b` + `c` and `a` + `b/c` stay two rules.
 */
function ruleIdOf(f: Finding): string {
  const part = (s: string): string => s.replace(/[%/]/g, (c) => (c === '%' ? '%25' : '%2F'));
  return `${part(f.source)}/${part(f.ruleId)}`;
}

interface SarifRule {
  id: string;
  shortDescription: { text: string };
  fullDescription: { text: string };
  help: { text: string };
  helpUri?: string;
  defaultConfiguration: { level: 'error' | 'warning' | 'note' };
  properties: { 'security-severity': string; tags: string[] };
}

/**
 * One rule for every source + rule id any node reported, in any status, sorted
 * by id. Nodes may disagree on a rule's text and severity (a passing TLS check
 * says `info`, the same check failing elsewhere `medium`), so the rule is
 * described by its most severe failure, else its most severe finding, the first
 * in report order on a tie: stable, and never milder than what failed.
 */
function collectRules(nodes: readonly NodeView[]): SarifRule[] {
  const chosen = new Map<string, Finding>();
  for (const node of nodes) {
    for (const f of node.findings) {
      const id = ruleIdOf(f);
      const current = chosen.get(id);
      if (current === undefined || weight(f) > weight(current)) chosen.set(id, f);
    }
  }
  return [...chosen.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([id, f]) => sarifRule(id, f));
}

/** Failures above everything else, then by severity. */
function weight(f: Finding): number {
  return (f.status === 'fail' ? SEVERITIES.length : 0) + severityRank(f.severity);
}

function sarifRule(id: string, f: Finding): SarifRule {
  const references = (f.references ?? []).map(httpUrl).filter((u): u is string => u !== undefined);
  const helpParts = [f.remediation ?? 'No remediation was given for this rule.'];
  if (references.length > 0) helpParts.push(`References:\n${references.map((r) => `- ${r}`).join('\n')}`);
  const compliance = Object.entries(f.compliance ?? {}).flatMap(([framework, ids]) => ids.map((cid) => `external/${framework}/${cid}`));
  const rule: SarifRule = {
    id,
    shortDescription: { text: nonEmpty(clampText(f.title, GITHUB_DESCRIPTION_CHARS), id) },
    fullDescription: { text: nonEmpty(clampText(f.rationale ?? f.title, GITHUB_DESCRIPTION_CHARS), id) },
    help: { text: helpParts.join('\n\n') },
    defaultConfiguration: { level: LEVEL[f.severity] },
    properties: { 'security-severity': SECURITY_SEVERITY[f.severity], tags: [...new Set(['security', f.kind, ...compliance])].sort() },
  };
  const helpUri = references[0];
  if (helpUri !== undefined) rule.helpUri = helpUri;
  return rule;
}

function sarifResult(node: NodeView, f: Finding, ruleId: string, ruleIndex: number): Record<string, unknown> {
  const fingerprint = createHash('sha256').update(JSON.stringify([node.nodeId, f.key])).digest('hex');
  return {
    ruleId,
    ruleIndex,
    level: LEVEL[f.severity],
    message: { text: f.evidence === '' ? nonEmpty(f.title, ruleId) : `${nonEmpty(f.title, ruleId)}\nEvidence: ${f.evidence}` },
    locations: [
      {
        physicalLocation: {
          artifactLocation: { uri: artifactUri(node.nodeName, f), uriBaseId: URI_BASE },
          // Findings have no line; GitHub wants a region, and line 1 is what
          // other host and image scanners report for a whole-artifact result.
          region: { startLine: 1 },
        },
        logicalLocations: [{ name: node.nodeName, fullyQualifiedName: node.nodeName, kind: 'host' }],
      },
    ],
    // GitHub matches results across uploads only by primaryLocationLineHash; the
    // node and the finding's key are what stay the same from one run to the next.
    partialFingerprints: { [FINGERPRINT]: fingerprint, primaryLocationLineHash: fingerprint },
    properties: {
      nodeId: node.nodeId,
      nodeName: node.nodeName,
      labels: node.labels,
      findingKey: f.key,
      kind: f.kind,
      severity: f.severity,
      ...(f.location !== undefined ? { location: f.location } : {}),
    },
  };
}

/**
 * `<node>` or, for a check about a file, `<node>/<path on the node>`, each
 * segment percent-encoded. The path is normalised as the node's kernel would
 * (`/../etc` is `/etc`), and a node name that is empty or all dots is prefixed:
 * URL resolvers treat `..` and even `%2E%2E` as "up", and no node-supplied text
 * may climb out of its node's directory or out of `FLEET`.
 */
function artifactUri(nodeName: string, f: Finding): string {
  const node = encodeURIComponent(nodeName);
  const segments = [/^\.{0,2}$/.test(node) ? `_${node}` : node];
  if (f.kind === 'check' && f.location?.startsWith('/')) {
    segments.push(...posix.normalize(f.location).split('/').filter((s) => s !== '').map(encodeURIComponent));
  }
  return segments.join('/');
}

/** GitHub refuses empty strings where it requires a value. */
function nonEmpty(text: string, fallback: string): string {
  return text.trim() === '' ? fallback : text;
}
