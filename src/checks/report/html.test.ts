import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isWellFormedText } from '../../core/text.js';
import { renderHtmlReport } from './html.js';
import { HOSTILE, hostileFleet, sampleFleet, shuffledSampleFleet } from './test-fleet.js';
import { childElements, elements, parseXml, textContent, xmllint, xmllintMissing, type XmlElement } from './test-xml.js';

/** Every element the report may contain: nothing that runs, loads or submits anything. */
const ALLOWED_ELEMENTS = new Set([
  'html', 'head', 'meta', 'title', 'style', 'body', 'header', 'main', 'section', 'h1', 'h2', 'h3', 'h4', 'p', 'div', 'span',
  'table', 'thead', 'tbody', 'tr', 'th', 'td', 'a', 'ul', 'li', 'dl', 'dt', 'dd', 'pre', 'code', 'details', 'summary', 'article',
]);
const ALLOWED_ATTRIBUTES = new Set(['lang', 'charset', 'http-equiv', 'content', 'name', 'class', 'id', 'href', 'rel', 'colspan', 'aria-label']);

const byClass = (root: XmlElement, cls: string): XmlElement[] => elements(root).filter((e) => (e.attributes.class ?? '').split(' ').includes(cls));

/** The `<dd>` after the `<dt>` named `term` in a finding's list. */
function fieldElement(article: XmlElement, term: string): XmlElement | undefined {
  const dl = childElements(article, 'dl')[0];
  const items = dl === undefined ? [] : dl.children.filter((c): c is XmlElement => typeof c !== 'string');
  const index = items.findIndex((c) => c.name === 'dt' && textContent(c) === term);
  return index < 0 ? undefined : items[index + 1];
}

const field = (article: XmlElement, term: string): string => {
  const dd = fieldElement(article, term);
  return dd === undefined ? '(missing)' : textContent(dd);
};

/** Parses the page as XML (it is written to be well-formed) and checks it can hold no active content. */
function parseSafePage(html: string): XmlElement {
  assert.ok(html.startsWith('<!DOCTYPE html>\n'));
  const root = parseXml(html);
  for (const e of elements(root)) {
    assert.ok(ALLOWED_ELEMENTS.has(e.name), `unexpected element <${e.name}>`);
    for (const [name, value] of Object.entries(e.attributes)) {
      assert.ok(ALLOWED_ATTRIBUTES.has(name), `unexpected attribute ${name} on <${e.name}>`);
      if (name === 'href') assert.match(value, /^(https?:\/\/|#node-\d+$)/, `href ${value}`);
    }
  }
  const csp = elements(root).find((e) => e.name === 'meta' && e.attributes['http-equiv'] === 'Content-Security-Policy');
  assert.equal(csp?.attributes.content, "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'");
  return root;
}

test('HTML: fleet summary numbers', () => {
  const root = parseSafePage(renderHtmlReport(sampleFleet()));
  const stat = (name: string): string => textContent(childElements(byClass(root, `stat-${name}`)[0] ?? root, 'dd')[0] ?? root);
  assert.deepEqual(
    ['score', 'nodes', 'failed', 'passed', 'not-applicable', 'critical', 'high', 'medium', 'low', 'info'].map((n) => [n, stat(n)]),
    [
      ['score', '37.5'],
      ['nodes', '2'],
      ['failed', '5'],
      ['passed', '3'],
      ['not-applicable', '2'],
      ['critical', '1'],
      ['high', '2'],
      ['medium', '1'],
      ['low', '1'],
      ['info', '0'],
    ],
  );
  assert.equal(textContent(elements(root).find((e) => e.name === 'title') ?? root), 'Fleet audit: prod');
});

test('HTML: node table with labels, score, failures by severity and run time', () => {
  const root = parseSafePage(renderHtmlReport(sampleFleet()));
  const table = byClass(root, 'nodes')[0];
  assert.ok(table);
  const rows = elements(table).filter((e) => e.name === 'tr').map((tr) => childElements(tr, 'td').map(textContent));
  assert.deepEqual(rows.slice(1), [
    ['db-1', 'env=prod role=db', '50', '0', '1', '0', '1', '0', 'started 2024-05-01 10:00:01 UTC, took 12.5 s'],
    ['web-1', 'env=prod role=web', '25', '1', '1', '1', '0', '0', 'started 2024-05-01 10:00:00 UTC, took 12.5 s'],
  ]);
});

test('HTML: each failed finding under its node, critical first, with its details; n/a collapsed', () => {
  const root = parseSafePage(renderHtmlReport(sampleFleet()));
  const sections = byClass(root, 'node');
  assert.deepEqual(
    sections.map((s) => [s.attributes.id, textContent(childElements(s, 'h2')[0] ?? s)]),
    [
      ['node-1', 'db-1'],
      ['node-2', 'web-1'],
    ],
  );
  const web = sections[1];
  assert.ok(web);
  assert.deepEqual(
    elements(web).filter((e) => e.name === 'h3').map(textContent),
    ['Audit errors (1)', 'Critical (1)', 'High (1)', 'Medium (1)'],
  );
  const articles = byClass(web, 'finding');
  assert.deepEqual(
    articles.map((a) => [a.attributes.class, field(a, 'Rule')]),
    [
      ['finding sev-critical', 'CVE-2024-6387 from debian-security-tracker (vulnerability)'],
      ['finding sev-high', '5.2.10 from cis-debian12 (check)'],
      ['finding sev-medium', 'tls-weak-protocol from tls (tls)'],
    ],
  );
  const ssh = articles[1];
  assert.ok(ssh);
  assert.equal(textContent(childElements(ssh, 'h4')[0] ?? ssh), 'High Ensure SSH root login is disabled');
  assert.equal(field(ssh, 'Evidence'), 'PermitRootLogin yes');
  assert.equal(field(ssh, 'Rationale'), 'Root logins cannot be traced to a person.');
  assert.equal(field(ssh, 'Remediation'), 'Set PermitRootLogin no in /etc/ssh/sshd_config.');
  assert.equal(field(ssh, 'Location'), '/etc/ssh/sshd_config');
  assert.equal(field(ssh, 'Compliance'), 'cis 5.2.10; nist-800-53 AC-6(2)');
  const links = elements(ssh).filter((e) => e.name === 'a');
  assert.deepEqual(
    links.map((a) => [a.attributes.href, a.attributes.rel]),
    [['https://www.cisecurity.org/benchmark/debian_linux', 'noopener noreferrer nofollow']],
  );
  assert.ok(field(ssh, 'References').includes('CIS Debian Linux 12 Benchmark v1.0.0'), 'a reference that is no URL stays text');
  assert.equal(field(articles[0] ?? ssh, 'Details'), 'fixed: 1:9.2p1-2+deb12u3installed: 1:9.2p1-2');

  const details = elements(web).filter((e) => e.name === 'details');
  assert.equal(details.length, 1);
  assert.equal(details[0]?.attributes.open, undefined, 'collapsed');
  assert.equal(textContent(details[0] ?? web).trim(), 'Not applicable (1)\n1.1.1.1 Ensure cramfs kernel module is not available (cis-debian12)');

  // Every failed finding's rule id appears inside a finding of its node.
  for (const node of sampleFleet().nodes) {
    const section = sections.find((s) => textContent(childElements(s, 'h2')[0] ?? s) === node.nodeName);
    assert.ok(section);
    const shown = byClass(section, 'finding').map((a) => field(a, 'Rule'));
    for (const f of node.findings.filter((x) => x.status === 'fail')) assert.ok(shown.some((r) => r.startsWith(`${f.ruleId} from ${f.source}`)), f.ruleId);
  }
});

test('HTML: the same fleet in another order gives the same bytes', () => {
  assert.equal(renderHtmlReport(shuffledSampleFleet()), renderHtmlReport(sampleFleet()));
});

test('HTML: hostile text never becomes markup, a link of another scheme, or reordered text', () => {
  const html = renderHtmlReport(hostileFleet());
  assert.ok(html.length < 96 * 1024, `a 1 MB field is clamped (page is ${html.length} chars)`);
  assert.ok(isWellFormedText(html));
  assert.doesNotMatch(html, /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\uFFFE\uFFFF]/, 'no control or non-character');
  assert.doesNotMatch(html, /[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/, 'no bidirectional control');
  assert.doesNotMatch(html, /<script|<img|javascript:alert\(1\)"/i);
  const root = parseSafePage(html);
  const text = textContent(root);
  assert.ok(text.includes(HOSTILE.script), 'the script tag is shown as text');
  assert.ok(text.includes(HOSTILE.attribute));
  assert.ok(text.includes('invoice[U+202E]gpj.exe'), 'the override is shown, not obeyed');
  const article = byClass(root, 'finding')[0];
  assert.ok(article);
  const refs = elements(fieldElement(article, 'References') ?? article).filter((e) => e.name === 'li').map((li) => [childElements(li, 'a')[0]?.attributes.href ?? null, textContent(li).slice(0, 40)]);
  assert.deepEqual(refs.slice(0, 6), [
    [null, 'javascript:alert(1)'],
    [null, ' JAVASCRIPT:alert(2)'],
    [null, 'java\nscript:alert(3)'],
    [null, 'data:text/html,<script>alert(4)</script>'],
    [null, 'vbscript:msgbox(5)'],
    ['https://ok.example/a%22b%3Cc%3E%E2%80%AE', 'https://ok.example/a%22b%3Cc%3E%E2%80%AE'],
  ]);
});

test('HTML: xmllint finds the sample and the hostile page well-formed', { skip: xmllintMissing() }, () => {
  for (const html of [renderHtmlReport(sampleFleet()), renderHtmlReport(hostileFleet())]) {
    const result = xmllint(html);
    assert.ok(result.ok, result.output);
  }
});
