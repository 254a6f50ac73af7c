import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isWellFormedText } from '../../core/text.js';
import { renderJunitReport } from './junit.js';
import { HOSTILE, hostileFleet, sampleFleet, shuffledSampleFleet } from './test-fleet.js';
import { childElements, elements, parseXml, textContent, xmllint, xmllintMissing, type XmlElement } from './test-xml.js';

const COUNTS = ['tests', 'failures', 'errors', 'skipped'] as const;

/** Each suite's counts must equal what its test cases hold, and the root's their sums. */
function assertCountsMatch(root: XmlElement): void {
  const total = { tests: 0, failures: 0, errors: 0, skipped: 0 };
  for (const suite of childElements(root, 'testsuite')) {
    const cases = childElements(suite, 'testcase');
    const actual = {
      tests: cases.length,
      failures: cases.filter((c) => childElements(c, 'failure').length === 1).length,
      errors: cases.filter((c) => childElements(c, 'error').length === 1).length,
      skipped: cases.filter((c) => childElements(c, 'skipped').length === 1).length,
    };
    for (const k of COUNTS) {
      assert.equal(suite.attributes[k], String(actual[k]), `${suite.attributes.name} ${k}`);
      total[k] += actual[k];
    }
  }
  for (const k of COUNTS) assert.equal(root.attributes[k], String(total[k]), `testsuites ${k}`);
}

test('JUnit: a suite per node with counts that match its test cases', () => {
  const root = parseXml(renderJunitReport(sampleFleet()));
  assert.equal(root.name, 'testsuites');
  assert.deepEqual(root.attributes, { name: 'Fleet audit: prod', tests: '11', failures: '5', errors: '1', skipped: '2', time: '25.000', timestamp: '2024-05-01T10:01:00' });
  assertCountsMatch(root);
  const suites = childElements(root, 'testsuite');
  assert.deepEqual(
    suites.map((s) => s.attributes),
    [
      { name: 'db-1', id: '0', package: 'bulwark', hostname: 'db-1', tests: '5', failures: '2', errors: '0', skipped: '1', time: '12.500', timestamp: '2024-05-01T10:00:01' },
      { name: 'web-1', id: '1', package: 'bulwark', hostname: 'web-1', tests: '6', failures: '3', errors: '1', skipped: '1', time: '12.500', timestamp: '2024-05-01T10:00:00' },
    ],
  );
  const web = suites[1];
  assert.ok(web);
  assert.deepEqual(
    childElements(childElements(web, 'properties')[0] ?? web, 'property').map((p) => [p.attributes.name, p.attributes.value]),
    [
      ['bulwark.node.id', 'n-web-1'],
      ['bulwark.run.id', 'run-web-1'],
      ['bulwark.score', '25'],
      ['label.env', 'prod'],
      ['label.role', 'web'],
    ],
  );
});

test('JUnit: test cases named <ruleId> <title>, classname <node>.<source>, failures typed by severity', () => {
  const root = parseXml(renderJunitReport(sampleFleet()));
  const web = childElements(root, 'testsuite')[1];
  assert.ok(web);
  const cases = childElements(web, 'testcase');
  assert.deepEqual(
    cases.map((c) => [c.attributes.classname, c.attributes.name, c.children.map((ch) => (typeof ch === 'string' ? ch : ch.name)).join(',')]),
    [
      ['web-1.debian-security-tracker', 'CVE-2024-6387 openssh-server: regreSSHion, remote code execution', 'failure'],
      ['web-1.cis-debian12', '5.2.10 Ensure SSH root login is disabled', 'failure'],
      ['web-1.cis-debian12', '5.2.4 Ensure SSH access is limited', ''],
      ['web-1.tls', 'tls-weak-protocol TLS 1.1 is accepted', 'failure'],
      ['web-1.cis-debian12', '1.1.1.1 Ensure cramfs kernel module is not available', 'skipped'],
      ['web-1.custom-hardening', 'audit error: custom-hardening', 'error'],
    ],
  );
  const failure = childElements(cases[1] ?? web, 'failure')[0];
  assert.ok(failure);
  assert.deepEqual(failure.attributes, { message: 'Ensure SSH root login is disabled', type: 'high' });
  assert.equal(
    textContent(failure),
    [
      'Evidence: PermitRootLogin yes',
      'Rationale: Root logins cannot be traced to a person.',
      'Remediation: Set PermitRootLogin no in /etc/ssh/sshd_config.',
      'Location: /etc/ssh/sshd_config',
      'References:',
      '  https://www.cisecurity.org/benchmark/debian_linux',
      '  CIS Debian Linux 12 Benchmark v1.0.0',
      'Finding: check:cis-debian12/5.2.10',
    ].join('\n'),
  );
  const error = childElements(cases[5] ?? web, 'error')[0];
  assert.deepEqual(error?.attributes, { message: 'policy could not be parsed: line 3', type: 'audit-error' });
});

test('JUnit: the same fleet in another order gives the same bytes', () => {
  assert.equal(renderJunitReport(shuffledSampleFleet()), renderJunitReport(sampleFleet()));
});

test('JUnit: hostile text is escaped into well-formed XML, never markup', () => {
  const xml = renderJunitReport(hostileFleet());
  assert.ok(xml.length < 64 * 1024, `a 1 MB field is clamped (document is ${xml.length} chars)`);
  assert.ok(isWellFormedText(xml));
  assert.doesNotMatch(xml, /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/, 'no character XML forbids');
  assert.doesNotMatch(xml, /<script|<img|\]\]>/);
  const root = parseXml(xml);
  assertCountsMatch(root);
  assert.deepEqual([...new Set(elements(root).map((e) => e.name))].sort(), ['error', 'failure', 'properties', 'property', 'skipped', 'testcase', 'testsuite', 'testsuites']);
  const suite = childElements(root, 'testsuite')[0];
  assert.ok(suite);
  assert.equal(suite.attributes.name, `${HOSTILE.script}${HOSTILE.bidi}`, 'attribute text survives escaping intact');
  assert.equal(suite.attributes.timestamp, undefined, 'an impossible start time is left out');
  assert.equal(suite.attributes.time, '0.000');
  const failure = elements(suite).find((e) => e.name === 'failure');
  assert.ok(failure);
  assert.ok(textContent(failure).includes(`${HOSTILE.attribute} | ${HOSTILE.cdataEnd} | nul\uFFFDhere`), 'text survives, NUL replaced');
  assert.ok(textContent(failure).includes('x\uFFFD\uFFFDy'), 'U+FFFE and U+FFFF replaced');
});

test('JUnit: xmllint accepts the sample and the hostile report', { skip: xmllintMissing() }, () => {
  for (const xml of [renderJunitReport(sampleFleet()), renderJunitReport(hostileFleet())]) {
    const result = xmllint(xml);
    assert.ok(result.ok, result.output);
  }
});
