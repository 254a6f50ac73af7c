import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { findMalformedText } from '../../core/text.js';
import { SARIF_SCHEMA, renderSarifReport } from './sarif.js';
import { hostileFleet, sampleFleet, shuffledSampleFleet } from './test-fleet.js';

interface Rule {
  id: string;
  shortDescription: { text: string };
  fullDescription: { text: string };
  help: { text: string };
  helpUri?: string;
  defaultConfiguration: { level: string };
  properties: { 'security-severity': string; tags: string[] };
}

interface Result {
  ruleId: string;
  ruleIndex: number;
  level: string;
  message: { text: string };
  locations: Array<{
    physicalLocation: { artifactLocation: { uri: string; uriBaseId: string }; region: { startLine: number } };
    logicalLocations: Array<{ name: string; fullyQualifiedName: string; kind: string }>;
  }>;
  partialFingerprints: Record<string, string>;
  properties: { nodeId: string; nodeName: string; labels: Record<string, string>; findingKey: string; severity: string };
}

interface Log {
  $schema: string;
  version: string;
  runs: Array<{
    tool: { driver: { name: string; version: string; informationUri?: string; rules: Rule[] } };
    invocations: Array<{ executionSuccessful: boolean; toolExecutionNotifications: Array<{ level: string; message: { text: string } }> }>;
    results: Result[];
  }>;
}

function run(text: string): Log['runs'][number] {
  const log = JSON.parse(text) as Log;
  assert.equal(log.$schema, SARIF_SCHEMA);
  assert.equal(log.version, '2.1.0');
  assert.equal(log.runs.length, 1);
  const only = log.runs[0];
  assert.ok(only);
  return only;
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

test('SARIF: the driver and one rule per source + rule id, sorted', () => {
  const { tool } = run(renderSarifReport(sampleFleet()));
  assert.equal(tool.driver.name, 'bulwark');
  assert.match(tool.driver.version, /^\d+\.\d+\.\d+/);
  // No home page is claimed until the project has one: the field is optional in SARIF.
  assert.equal(tool.driver.informationUri, undefined);
  assert.deepEqual(
    tool.driver.rules.map((r) => [r.id, r.defaultConfiguration.level, r.properties['security-severity']]),
    [
      ['cis-debian12/1.1.1.1', 'note', '3.0'],
      ['cis-debian12/5.2.10', 'error', '8.0'],
      ['cis-debian12/5.2.4', 'warning', '5.5'],
      ['debian-security-tracker/CVE-2023-0001', 'note', '3.0'],
      ['debian-security-tracker/CVE-2024-6387', 'error', '9.5'],
      ['tls/tls-weak-protocol', 'warning', '5.5'],
    ],
  );
});

test('SARIF: a rule carries title, rationale, remediation, help link and tags', () => {
  const rule = run(renderSarifReport(sampleFleet())).tool.driver.rules.find((r) => r.id === 'cis-debian12/5.2.10');
  assert.deepEqual(rule, {
    id: 'cis-debian12/5.2.10',
    shortDescription: { text: 'Ensure SSH root login is disabled' },
    fullDescription: { text: 'Root logins cannot be traced to a person.' },
    help: { text: 'Set PermitRootLogin no in /etc/ssh/sshd_config.\n\nReferences:\n- https://www.cisecurity.org/benchmark/debian_linux' },
    helpUri: 'https://www.cisecurity.org/benchmark/debian_linux',
    defaultConfiguration: { level: 'error' },
    properties: { 'security-severity': '8.0', tags: ['check', 'external/cis/5.2.10', 'external/nist-800-53/AC-6(2)', 'security'] },
  });
});

test('SARIF: a result per failed finding, nodes by name, findings by severity', () => {
  const { results, tool } = run(renderSarifReport(sampleFleet()));
  assert.deepEqual(
    results.map((r) => [r.properties.nodeName, r.ruleId, r.level]),
    [
      ['db-1', 'cis-debian12/5.2.10', 'error'],
      ['db-1', 'debian-security-tracker/CVE-2023-0001', 'note'],
      ['web-1', 'debian-security-tracker/CVE-2024-6387', 'error'],
      ['web-1', 'cis-debian12/5.2.10', 'error'],
      ['web-1', 'tls/tls-weak-protocol', 'warning'],
    ],
  );
  for (const r of results) assert.equal(tool.driver.rules[r.ruleIndex]?.id, r.ruleId, 'ruleIndex points at the rule');
});

test('SARIF: locations name the node, and the file for a check about a file', () => {
  const { results } = run(renderSarifReport(sampleFleet()));
  const ssh = results.find((r) => r.properties.nodeName === 'web-1' && r.ruleId === 'cis-debian12/5.2.10');
  const cve = results.find((r) => r.ruleId === 'debian-security-tracker/CVE-2024-6387');
  assert.ok(ssh && cve);
  assert.deepEqual(ssh.locations, [
    {
      physicalLocation: { artifactLocation: { uri: 'web-1/etc/ssh/sshd_config', uriBaseId: 'FLEET' }, region: { startLine: 1 } },
      logicalLocations: [{ name: 'web-1', fullyQualifiedName: 'web-1', kind: 'host' }],
    },
  ]);
  assert.equal(cve.locations[0]?.physicalLocation.artifactLocation.uri, 'web-1', 'a package is no file: the node itself');
  assert.equal(ssh.message.text, 'Ensure SSH root login is disabled\nEvidence: PermitRootLogin yes');
  assert.deepEqual(ssh.properties, {
    nodeId: 'n-web-1',
    nodeName: 'web-1',
    labels: { env: 'prod', role: 'web' },
    findingKey: 'check:cis-debian12/5.2.10',
    kind: 'check',
    severity: 'high',
    location: '/etc/ssh/sshd_config',
  });
});

test('SARIF: fingerprints hash node id and finding key, and nothing that changes between runs', () => {
  const { results } = run(renderSarifReport(sampleFleet()));
  const ssh = results.filter((r) => r.ruleId === 'cis-debian12/5.2.10');
  assert.equal(ssh.length, 2);
  const expected = sha256(JSON.stringify(['n-web-1', 'check:cis-debian12/5.2.10']));
  assert.deepEqual(ssh[1]?.partialFingerprints, { 'bulwarkFinding/v1': expected, primaryLocationLineHash: expected });
  assert.notEqual(ssh[0]?.partialFingerprints['bulwarkFinding/v1'], expected, 'another node, another fingerprint');

  const later = sampleFleet();
  later.generatedAt += 86_400_000;
  for (const n of later.nodes) {
    n.runId = `${n.runId}-2`;
    for (const f of n.findings) f.evidence = `${f.evidence} (again)`;
  }
  const again = run(renderSarifReport(later)).results;
  assert.deepEqual(
    again.map((r) => r.partialFingerprints),
    results.map((r) => r.partialFingerprints),
  );
});

test('SARIF: audit errors become tool notifications, not results', () => {
  const { invocations } = run(renderSarifReport(sampleFleet()));
  assert.deepEqual(
    invocations.map((i) => [i.executionSuccessful, i.toolExecutionNotifications.map((n) => [n.level, n.message.text])]),
    [[true, [['error', 'web-1: custom-hardening: policy could not be parsed: line 3']]]],
  );
});

test('SARIF: a node named "..", ".%2E" or "" cannot make its URI leave FLEET', () => {
  for (const name of ['..', '.', '', '.%2E', '%2e%2e']) {
    const fleet = sampleFleet();
    const web = fleet.nodes[0];
    assert.ok(web);
    web.nodeName = name;
    const uris = run(renderSarifReport(fleet)).results.map((r) => r.locations[0]?.physicalLocation.artifactLocation.uri ?? '');
    for (const uri of uris) assert.ok(new URL(uri, 'file:///fleet/').pathname.startsWith('/fleet/') && !uri.startsWith('/'), `${name}: ${uri}`);
    assert.ok(uris.some((u) => u.endsWith('/etc/ssh/sshd_config') && new URL(u, 'file:///fleet/').pathname.split('/').length === 6), `${name}: ${uris.join(' ')}`);
  }
});

test('SARIF: the same fleet in another order gives the same bytes', () => {
  assert.equal(renderSarifReport(shuffledSampleFleet()), renderSarifReport(sampleFleet()));
});

test('SARIF: hostile text stays valid JSON, the artifact URI stays inside the node', () => {
  const text = renderSarifReport(hostileFleet());
  const parsed = run(text);
  assert.equal(findMalformedText(JSON.parse(text)), undefined, 'no lone surrogate survives');
  assert.ok(text.length < 64 * 1024, `a 1 MB field is clamped (log is ${text.length} chars)`);
  assert.equal(parsed.results.length, 1);
  const [result] = parsed.results;
  assert.ok(result);
  const uri = result.locations[0]?.physicalLocation.artifactLocation.uri ?? '';
  assert.match(uri, /^[A-Za-z0-9\-._~%!$&'()*+,;=:@/]+$/, `a valid relative URI: ${uri}`);
  const node = encodeURIComponent('<script>alert(1)</script>invoice\u202Egpj.exe');
  assert.equal(uri, `${node}/etc/${encodeURIComponent('"><img src=x onerror=alert(1)>')}`, '/../../etc/x/y/.. is /etc/x on the node');
  assert.ok(new URL(uri, 'file:///fleet/').pathname.startsWith(`/fleet/${node}/`), 'a URL resolver keeps it inside the node');
  const rule = parsed.tool.driver.rules[result.ruleIndex];
  assert.ok(rule);
  assert.ok(rule.shortDescription.text.length <= 1024 && rule.fullDescription.text.length <= 1024, "within GitHub's description limits");
  assert.equal(rule.helpUri, 'https://ok.example/a%22b%3Cc%3E%E2%80%AE', 'only an http(s) reference becomes the help link');
  assert.equal(new Set(parsed.tool.driver.rules.map((r) => r.id)).size, parsed.tool.driver.rules.length, 'rule ids unique');
});
