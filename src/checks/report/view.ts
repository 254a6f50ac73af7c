import { SEVERITIES, clampEvidence, severityRank, summarize, type AuditError, type AuditSummary, type Finding, type FleetReport, type NodeAuditResult, type Severity } from '../model.js';
import { clampText, wellFormed } from './text.js';

/**
 * What every writer renders: the fleet report with its text bounded and made
 * well-formed, nodes and findings in one stable order, and the summaries
 * recomputed from the findings. Writers never see the raw report, so each format
 * shows the same data and the same input always gives the same bytes.
 */
export interface ReportView {
  title: string;
  /** ISO 8601, or null when the input time is not a valid date. */
  generatedAt: string | null;
  fleet: FleetSummary;
  /** By name, then id. */
  nodes: NodeView[];
}

export interface FleetSummary {
  nodes: number;
  /** Mean of the node scores, one decimal; 100 for an empty fleet, as for a node where nothing applied. */
  score: number;
  failedBySeverity: Record<Severity, number>;
  failed: number;
  passed: number;
  notApplicable: number;
}

export interface NodeView {
  nodeId: string;
  nodeName: string;
  /** Keys sorted. */
  labels: Record<string, string>;
  runId: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** null when either time is invalid or the run ends before it starts. */
  durationSeconds: number | null;
  /** Recomputed from `findings`: a node does not get to state its own score. */
  summary: AuditSummary;
  /** Critical first, then by key. */
  findings: Finding[];
  /** By source, then message. */
  errors: AuditError[];
}

/**
 * Caps on node-supplied text. The wire schema bounds what agents send; these hold
 * for every caller (results of `audit local` never cross the wire) and keep one
 * finding's share of a report small.
 */
const CAP = { name: 256, key: 512, title: 1024, text: 4096, reference: 1024, references: 32, item: 256, items: 64 } as const;

export function buildReportView(report: FleetReport): ReportView {
  const nodes = report.nodes.map(nodeView).sort(compareNodes);
  return {
    title: clampText(report.title, CAP.title),
    generatedAt: isoTime(report.generatedAt),
    fleet: fleetSummary(nodes),
    nodes,
  };
}

/** Failed findings of one node, grouped by severity, critical first; severities without failures are left out. */
export function failedBySeverityGroups(node: NodeView): Array<{ severity: Severity; findings: Finding[] }> {
  return SEVERITIES.map((severity) => ({ severity, findings: node.findings.filter((f) => f.status === 'fail' && f.severity === severity) })).filter(
    (group) => group.findings.length > 0,
  );
}

function nodeView(node: NodeAuditResult): NodeView {
  const findings = node.findings.map(findingView).sort(compareFindings);
  const startedAt = isoTime(node.startedAt);
  const finishedAt = isoTime(node.finishedAt);
  const durationMs = node.finishedAt - node.startedAt;
  return {
    nodeId: clampText(node.nodeId, CAP.name),
    nodeName: clampText(node.nodeName, CAP.name),
    labels: sortedRecord(Object.entries(node.labels).map(([k, v]) => [clampText(k, CAP.name), clampText(v, CAP.name)])),
    runId: clampText(node.runId, CAP.name),
    startedAt,
    finishedAt,
    durationSeconds: startedAt !== null && finishedAt !== null && durationMs >= 0 ? durationMs / 1000 : null,
    summary: summarize(findings),
    findings,
    errors: node.errors
      .map((e) => ({ source: clampText(e.source, CAP.name), message: clampText(e.message, CAP.text) }))
      .sort((a, b) => compareText(a.source, b.source) || compareText(a.message, b.message)),
  };
}

function findingView(f: Finding): Finding {
  const view: Finding = {
    kind: f.kind,
    key: clampText(f.key, CAP.key),
    ruleId: clampText(f.ruleId, CAP.name),
    source: clampText(f.source, CAP.name),
    title: clampText(f.title, CAP.title),
    severity: f.severity,
    status: f.status,
    evidence: wellFormed(clampEvidence(f.evidence)),
  };
  if (f.rationale !== undefined) view.rationale = clampText(f.rationale, CAP.text);
  if (f.remediation !== undefined) view.remediation = clampText(f.remediation, CAP.text);
  if (f.references !== undefined) view.references = f.references.slice(0, CAP.references).map((r) => clampText(r, CAP.reference));
  if (f.compliance !== undefined) {
    view.compliance = sortedRecord(
      Object.entries(f.compliance)
        .slice(0, CAP.items)
        .map(([framework, ids]) => [clampText(framework, CAP.item), ids.slice(0, CAP.items).map((id) => clampText(id, CAP.item))]),
    );
  }
  if (f.location !== undefined) view.location = clampText(f.location, CAP.reference);
  if (f.details !== undefined) {
    view.details = sortedRecord(
      Object.entries(f.details)
        .slice(0, CAP.items)
        .map(([k, v]) => [clampText(k, CAP.item), detailValue(v)]),
    );
  }
  return view;
}

type DetailValue = NonNullable<Finding['details']>[string];

function detailValue(value: DetailValue): DetailValue {
  if (typeof value === 'string') return clampText(value, CAP.text);
  if (Array.isArray(value)) return value.slice(0, CAP.items).map((item) => clampText(item, CAP.item));
  return value;
}

function fleetSummary(nodes: readonly NodeView[]): FleetSummary {
  const failedBySeverity = Object.fromEntries(SEVERITIES.map((s) => [s, 0])) as Record<Severity, number>;
  let failed = 0;
  let passed = 0;
  let notApplicable = 0;
  let scoreSum = 0;
  for (const { summary } of nodes) {
    failed += summary.failed;
    passed += summary.passed;
    notApplicable += summary.notApplicable;
    scoreSum += summary.score;
    for (const s of SEVERITIES) failedBySeverity[s] += summary.failedBySeverity[s];
  }
  const score = nodes.length === 0 ? 100 : Math.round((scoreSum / nodes.length) * 10) / 10;
  return { nodes: nodes.length, score, failedBySeverity, failed, passed, notApplicable };
}

/** ISO 8601 for a millisecond time, or null for one Date cannot hold (toISOString would throw). */
function isoTime(ms: number): string | null {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

/** Code-unit order: the same on every machine and locale, unlike localeCompare. */
function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareNodes(a: NodeView, b: NodeView): number {
  return compareText(a.nodeName, b.nodeName) || compareText(a.nodeId, b.nodeId);
}

/** Critical first, then by key; the other fields only make the order total, so shuffled input gives the same output. */
function compareFindings(a: Finding, b: Finding): number {
  return (
    severityRank(b.severity) - severityRank(a.severity) ||
    compareText(a.key, b.key) ||
    compareText(a.status, b.status) ||
    compareText(a.source, b.source) ||
    compareText(a.ruleId, b.ruleId) ||
    compareText(a.title, b.title) ||
    compareText(a.evidence, b.evidence)
  );
}

function sortedRecord<T>(entries: Array<[string, T]>): Record<string, T> {
  return Object.fromEntries(entries.sort(([a], [b]) => compareText(a, b)));
}
