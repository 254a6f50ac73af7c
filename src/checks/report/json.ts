import type { FleetReport } from '../model.js';
import { buildReportView, type NodeView } from './view.js';

/**
 * The JSON report: Bulwark's own stable shape, for scripts and other tools.
 * `format` and `version` let a reader check what it got; a change that removes or
 * renames a field bumps `version` (docs/reports.md documents each field).
 */
export const JSON_REPORT_FORMAT = 'bulwark-audit-report';
export const JSON_REPORT_VERSION = 1;

export function renderJsonReport(report: FleetReport): string {
  const view = buildReportView(report);
  const document = {
    format: JSON_REPORT_FORMAT,
    version: JSON_REPORT_VERSION,
    title: view.title,
    generatedAt: view.generatedAt,
    fleet: view.fleet,
    nodes: view.nodes.map(jsonNode),
  };
  return `${JSON.stringify(document, null, 2)}\n`;
}

/** Fields named once and in a fixed order, so the output does not follow the input's key order. */
function jsonNode(node: NodeView): Record<string, unknown> {
  return {
    id: node.nodeId,
    name: node.nodeName,
    labels: node.labels,
    runId: node.runId,
    startedAt: node.startedAt,
    finishedAt: node.finishedAt,
    durationSeconds: node.durationSeconds,
    summary: {
      score: node.summary.score,
      passed: node.summary.passed,
      failed: node.summary.failed,
      notApplicable: node.summary.notApplicable,
      failedBySeverity: node.summary.failedBySeverity,
    },
    findings: node.findings.map((f) => ({
      key: f.key,
      kind: f.kind,
      ruleId: f.ruleId,
      source: f.source,
      title: f.title,
      severity: f.severity,
      status: f.status,
      evidence: f.evidence,
      rationale: f.rationale,
      remediation: f.remediation,
      references: f.references,
      compliance: f.compliance,
      location: f.location,
      details: f.details,
    })),
    errors: node.errors.map((e) => ({ source: e.source, message: e.message })),
  };
}
