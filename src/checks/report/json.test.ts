import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findMalformedText } from '../../core/text.js';
import { MAX_EVIDENCE_CHARS } from '../model.js';
import { JSON_REPORT_FORMAT, JSON_REPORT_VERSION, renderJsonReport } from './json.js';
import { hostileFleet, sampleFleet, shuffledSampleFleet } from './test-fleet.js';

interface JsonNode {
  id: string;
  name: string;
  labels: Record<string, string>;
  startedAt: string | null;
  finishedAt: string | null;
  durationSeconds: number | null;
  summary: { score: number; passed: number; failed: number; notApplicable: number; failedBySeverity: Record<string, number> };
  findings: Array<{ key: string; status: string; severity: string; evidence: string; title: string; rationale?: string; references?: string[] }>;
  errors: Array<{ source: string; message: string }>;
}

interface JsonReport {
  format: string;
  version: number;
  title: string;
  generatedAt: string | null;
  fleet: unknown;
  nodes: JsonNode[];
}

const parse = (text: string): JsonReport => JSON.parse(text) as JsonReport;

test('JSON report: header, fleet totals and nodes sorted by name', () => {
  const text = renderJsonReport(sampleFleet());
  assert.ok(text.endsWith('}\n'));
  assert.match(text, /^\{\n {2}"format": "bulwark-audit-report",\n {2}"version": 1,/);
  const report = parse(text);
  assert.equal(report.format, JSON_REPORT_FORMAT);
  assert.equal(report.version, JSON_REPORT_VERSION);
  assert.equal(report.title, 'Fleet audit: prod');
  assert.equal(report.generatedAt, '2024-05-01T10:01:00.000Z');
  assert.deepEqual(report.fleet, {
    nodes: 2,
    score: 37.5,
    failedBySeverity: { critical: 1, high: 2, medium: 1, low: 1, info: 0 },
    failed: 5,
    passed: 3,
    notApplicable: 2,
  });
  assert.deepEqual(
    report.nodes.map((n) => [n.name, n.id]),
    [
      ['db-1', 'n-db-1'],
      ['web-1', 'n-web-1'],
    ],
  );
});

test('JSON report: a node is scored from its findings, not from the summary it sent', () => {
  const web = parse(renderJsonReport(sampleFleet())).nodes[1];
  assert.ok(web);
  assert.deepEqual(web.summary, { score: 25, passed: 1, failed: 3, notApplicable: 1, failedBySeverity: { critical: 1, high: 1, medium: 1, low: 0, info: 0 } });
  assert.deepEqual(Object.keys(web.labels), ['env', 'role']);
  assert.equal(web.startedAt, '2024-05-01T10:00:00.000Z');
  assert.equal(web.finishedAt, '2024-05-01T10:00:12.500Z');
  assert.equal(web.durationSeconds, 12.5);
  assert.deepEqual(web.errors, [{ source: 'custom-hardening', message: 'policy could not be parsed: line 3' }]);
});

test('JSON report: findings critical first, then by key, with every field kept', () => {
  const web = parse(renderJsonReport(sampleFleet())).nodes[1];
  assert.ok(web);
  assert.deepEqual(
    web.findings.map((f) => [f.severity, f.key, f.status]),
    [
      ['critical', 'vulnerability:CVE-2024-6387/openssh-server', 'fail'],
      ['high', 'check:cis-debian12/5.2.10', 'fail'],
      ['medium', 'check:cis-debian12/5.2.4', 'pass'],
      ['medium', 'tls:web-1:443/tls-weak-protocol', 'fail'],
      ['low', 'check:cis-debian12/1.1.1.1', 'not_applicable'],
    ],
  );
  assert.deepEqual(web.findings[1], {
    key: 'check:cis-debian12/5.2.10',
    kind: 'check',
    ruleId: '5.2.10',
    source: 'cis-debian12',
    title: 'Ensure SSH root login is disabled',
    severity: 'high',
    status: 'fail',
    evidence: 'PermitRootLogin yes',
    rationale: 'Root logins cannot be traced to a person.',
    remediation: 'Set PermitRootLogin no in /etc/ssh/sshd_config.',
    references: ['https://www.cisecurity.org/benchmark/debian_linux', 'CIS Debian Linux 12 Benchmark v1.0.0'],
    compliance: { cis: ['5.2.10'], 'nist-800-53': ['AC-6(2)'] },
    location: '/etc/ssh/sshd_config',
  });
});

test('JSON report: the same fleet in another order gives the same bytes', () => {
  assert.equal(renderJsonReport(shuffledSampleFleet()), renderJsonReport(sampleFleet()));
});

test('JSON report: hostile text stays valid, well-formed and bounded', () => {
  const text = renderJsonReport(hostileFleet());
  const report = parse(text);
  assert.equal(findMalformedText(report), undefined, 'no lone surrogate survives');
  assert.ok(text.length < 64 * 1024, `a 1 MB field is clamped (report is ${text.length} chars)`);
  const node = report.nodes[0];
  assert.ok(node);
  assert.equal(node.startedAt, null, 'a time Date cannot hold becomes null instead of throwing');
  assert.equal(node.finishedAt, null);
  assert.equal(node.durationSeconds, null);
  const critical = node.findings[0];
  assert.ok(critical);
  assert.ok(critical.evidence.length <= MAX_EVIDENCE_CHARS);
  assert.ok(critical.evidence.endsWith('…'));
  assert.ok(critical.title.length <= 1024);
  assert.ok((critical.rationale ?? '').length <= 4096);
  assert.ok(critical.evidence.includes('\u0000'), 'JSON escapes control characters itself; the data is kept');
  assert.match(text, /\\u0000/);
});
