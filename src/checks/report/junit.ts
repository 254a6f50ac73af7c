import type { Finding, FleetReport } from '../model.js';
import { escapeMarkupText, markupAttributes } from './text.js';
import { buildReportView, type NodeView } from './view.js';

/**
 * JUnit XML as Jenkins (JUnit plugin, xunit) and GitLab (unit test reports) read
 * it: `<testsuites>` for the fleet, a `<testsuite>` per node, a `<testcase>` per
 * finding. A failed finding holds a `<failure>` (type = severity), a
 * not-applicable one a `<skipped>`, and each audit error becomes a test case with
 * an `<error>`, so a policy that could not run does not pass silently in CI.
 * GitLab shows a case's classname as its suite, hence `<node>.<source>`.
 */
export function renderJunitReport(report: FleetReport): string {
  const view = buildReportView(report);
  const suites = view.nodes.map((node, index) => ({ node, index, counts: countsOf(node) }));
  const total = suites.reduce(
    (sum, { counts }) => ({ tests: sum.tests + counts.tests, failures: sum.failures + counts.failures, errors: sum.errors + counts.errors, skipped: sum.skipped + counts.skipped }),
    { tests: 0, failures: 0, errors: 0, skipped: 0 },
  );
  const time = view.nodes.reduce((sum, node) => sum + (node.durationSeconds ?? 0), 0);
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites${markupAttributes({ name: view.title, ...total, time: seconds(time), timestamp: junitTimestamp(view.generatedAt) })}>`,
    ...suites.flatMap(({ node, index, counts }) => testsuite(node, index, counts)),
    '</testsuites>',
    '',
  ];
  return lines.join('\n');
}

interface Counts {
  tests: number;
  failures: number;
  errors: number;
  skipped: number;
}

function countsOf(node: NodeView): Counts {
  return {
    tests: node.findings.length + node.errors.length,
    failures: node.summary.failed,
    errors: node.errors.length,
    skipped: node.summary.notApplicable,
  };
}

function testsuite(node: NodeView, index: number, counts: Counts): string[] {
  const properties: Array<[string, string]> = [
    ['bulwark.node.id', node.nodeId],
    ['bulwark.run.id', node.runId],
    ['bulwark.score', String(node.summary.score)],
    ...Object.entries(node.labels).map(([k, v]): [string, string] => [`label.${k}`, v]),
  ];
  const attributes = {
    name: node.nodeName,
    id: index,
    package: 'bulwark',
    hostname: node.nodeName,
    ...counts,
    time: seconds(node.durationSeconds ?? 0),
    timestamp: junitTimestamp(node.startedAt),
  };
  return [
    `  <testsuite${markupAttributes(attributes)}>`,
    '    <properties>',
    ...properties.map(([name, value]) => `      <property${markupAttributes({ name, value })}/>`),
    '    </properties>',
    ...node.findings.map((f) => testcase(node, f)),
    ...node.errors.map(
      (e) =>
        `    <testcase${markupAttributes({ classname: `${node.nodeName}.${e.source}`, name: `audit error: ${e.source}`, time: '0' })}>` +
        `<error${markupAttributes({ message: e.message, type: 'audit-error' })}>${escapeMarkupText(e.message)}</error></testcase>`,
    ),
    '  </testsuite>',
  ];
}

function testcase(node: NodeView, f: Finding): string {
  const open = `    <testcase${markupAttributes({ classname: `${node.nodeName}.${f.source}`, name: `${f.ruleId} ${f.title}`, time: '0' })}`;
  if (f.status === 'pass') return `${open}/>`;
  if (f.status === 'not_applicable') return `${open}><skipped message="not applicable"/></testcase>`;
  return `${open}><failure${markupAttributes({ message: f.title, type: f.severity })}>${escapeMarkupText(failureBody(f))}</failure></testcase>`;
}

/** What a reader of a CI failure needs without opening another report. */
function failureBody(f: Finding): string {
  const lines = [`Evidence: ${f.evidence}`];
  if (f.rationale !== undefined) lines.push(`Rationale: ${f.rationale}`);
  if (f.remediation !== undefined) lines.push(`Remediation: ${f.remediation}`);
  if (f.location !== undefined) lines.push(`Location: ${f.location}`);
  if (f.references !== undefined && f.references.length > 0) lines.push('References:', ...f.references.map((r) => `  ${r}`));
  lines.push(`Finding: ${f.key}`);
  return lines.join('\n');
}

function seconds(value: number): string {
  return value.toFixed(3);
}

/** The JUnit schema's timestamp: ISO 8601 to the second, without a zone (the times are UTC). */
function junitTimestamp(iso: string | null): string | undefined {
  return iso !== null && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/.test(iso) ? iso.slice(0, 19) : undefined;
}
