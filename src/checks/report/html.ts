import { VERSION } from '../../core/version.js';
import { SEVERITIES, type Finding, type FleetReport, type Severity } from '../model.js';
import { escapeMarkupText, markupAttributes } from './text.js';
import { httpUrl } from './url.js';
import { buildReportView, failedBySeverityGroups, type FleetSummary, type NodeView, type ReportView } from './view.js';

/**
 * One self-contained HTML file: inline CSS, no script, no fonts, images or other
 * fetches, which the CSP below also forbids should anything slip through. Node
 * text only ever reaches the page escaped, with bidirectional controls shown as
 * `[U+202E]`-style marks instead of reordering what the reader sees; only http and
 * https references become links. The markup is also well-formed XML, so it can be
 * checked by an XML parser.
 */
export function renderHtmlReport(report: FleetReport): string {
  const view = buildReportView(report);
  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8" />',
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'" />`,
    '<meta name="referrer" content="no-referrer" />',
    '<meta name="viewport" content="width=device-width, initial-scale=1" />',
    `<title>${text(view.title)}</title>`,
    `<style>${STYLE}</style>`,
    '</head>',
    '<body>',
    '<header>',
    `<h1>${text(view.title)}</h1>`,
    `<p class="meta">Generated ${text(displayTime(view.generatedAt))} by Bulwark ${text(VERSION)}</p>`,
    '</header>',
    '<main>',
    fleetSection(view.fleet),
    nodeTable(view),
    ...view.nodes.map(nodeSection),
    '</main>',
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

const BIDI_CONTROLS = /[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/g;

/** Escaped node text, with each bidirectional control made visible instead of obeyed. */
function text(value: string): string {
  return escapeMarkupText(value.replace(BIDI_CONTROLS, (c) => `[U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}]`));
}

function fleetSection(fleet: FleetSummary): string {
  const stat = (name: string, label: string, value: number): string =>
    `<div${markupAttributes({ class: `stat stat-${name}` })}><dt>${label}</dt><dd>${value}</dd></div>`;
  return [
    '<section class="fleet" aria-label="Fleet summary">',
    '<dl class="stats">',
    stat('score', 'Score', fleet.score),
    stat('nodes', 'Nodes', fleet.nodes),
    stat('failed', 'Failed', fleet.failed),
    stat('passed', 'Passed', fleet.passed),
    stat('not-applicable', 'Not applicable', fleet.notApplicable),
    '</dl>',
    '<dl class="stats severities">',
    ...SEVERITIES.map((s) => stat(s, `${severityLabel(s)} failed`, fleet.failedBySeverity[s])),
    '</dl>',
    '</section>',
  ].join('\n');
}

function nodeTable(view: ReportView): string {
  const rows = view.nodes.map((node, index) =>
    [
      '<tr>',
      `<td><a${markupAttributes({ href: `#${nodeAnchor(index)}` })}>${text(node.nodeName)}</a></td>`,
      `<td>${labels(node.labels)}</td>`,
      `<td class="num">${node.summary.score}</td>`,
      ...SEVERITIES.map((s) => `<td${markupAttributes({ class: `num${node.summary.failedBySeverity[s] > 0 ? ` sev-${s}` : ''}` })}>${node.summary.failedBySeverity[s]}</td>`),
      `<td>${text(runTime(node))}</td>`,
      '</tr>',
    ].join(''),
  );
  return [
    '<section aria-label="Nodes">',
    '<h2>Nodes</h2>',
    '<table class="nodes">',
    `<thead><tr><th>Node</th><th>Labels</th><th class="num">Score</th>${SEVERITIES.map((s) => `<th class="num">${severityLabel(s)}</th>`).join('')}<th>Run</th></tr></thead>`,
    `<tbody>${rows.length > 0 ? rows.join('\n') : `<tr><td colspan="${SEVERITIES.length + 4}">No nodes in this report.</td></tr>`}</tbody>`,
    '</table>',
    '</section>',
  ].join('\n');
}

function nodeSection(node: NodeView, index: number): string {
  const { summary } = node;
  const groups = failedBySeverityGroups(node);
  const notApplicable = node.findings.filter((f) => f.status === 'not_applicable');
  return [
    `<section${markupAttributes({ class: 'node', id: nodeAnchor(index) })}>`,
    `<h2>${text(node.nodeName)}</h2>`,
    `<p class="meta">Node <code>${text(node.nodeId)}</code>, run <code>${text(node.runId)}</code>, ${text(runTime(node))}. ` +
      `Score ${summary.score}: ${summary.failed} failed, ${summary.passed} passed, ${summary.notApplicable} not applicable.</p>`,
    ...(node.errors.length > 0
      ? [
          '<div class="errors">',
          `<h3>Audit errors (${node.errors.length})</h3>`,
          `<ul>${node.errors.map((e) => `<li><code>${text(e.source)}</code>: ${text(e.message)}</li>`).join('')}</ul>`,
          '</div>',
        ]
      : []),
    ...(groups.length === 0 ? ['<p>No failed findings.</p>'] : []),
    ...groups.flatMap(({ severity, findings }) => [
      `<h3${markupAttributes({ class: `sev-${severity}` })}>${severityLabel(severity)} (${findings.length})</h3>`,
      ...findings.map(findingArticle),
    ]),
    ...(notApplicable.length > 0
      ? [
          '<details>',
          `<summary>Not applicable (${notApplicable.length})</summary>`,
          `<ul class="na">${notApplicable.map((f) => `<li><code>${text(f.ruleId)}</code> ${text(f.title)} <span class="muted">(${text(f.source)})</span></li>`).join('')}</ul>`,
          '</details>',
        ]
      : []),
    '</section>',
  ].join('\n');
}

function findingArticle(f: Finding): string {
  const rows: Array<[string, string]> = [
    ['Rule', `<code>${text(f.ruleId)}</code> from <code>${text(f.source)}</code> (${text(f.kind)})`],
    ...(f.location !== undefined ? [['Location', `<code>${text(f.location)}</code>`] as [string, string]] : []),
    ['Evidence', `<pre>${text(f.evidence)}</pre>`],
    ...(f.rationale !== undefined ? [['Rationale', `<p>${text(f.rationale)}</p>`] as [string, string]] : []),
    ...(f.remediation !== undefined ? [['Remediation', `<p>${text(f.remediation)}</p>`] as [string, string]] : []),
    ...(f.details !== undefined && Object.keys(f.details).length > 0 ? [['Details', details(f.details)] as [string, string]] : []),
    ...(f.compliance !== undefined && Object.keys(f.compliance).length > 0 ? [['Compliance', compliance(f.compliance)] as [string, string]] : []),
    ...(f.references !== undefined && f.references.length > 0 ? [['References', references(f.references)] as [string, string]] : []),
    ['Finding', `<code>${text(f.key)}</code>`],
  ];
  return [
    `<article${markupAttributes({ class: `finding sev-${f.severity}` })}>`,
    `<h4><span class="badge">${severityLabel(f.severity)}</span> ${text(f.title)}</h4>`,
    `<dl>${rows.map(([term, value]) => `<dt>${term}</dt><dd>${value}</dd>`).join('')}</dl>`,
    '</article>',
  ].join('\n');
}

/** A link only for an http(s) URL, and the link's text is the URL it goes to; anything else stays text. */
function references(refs: readonly string[]): string {
  const items = refs.map((ref) => {
    const url = httpUrl(ref);
    return url === undefined ? `<li>${text(ref)}</li>` : `<li><a${markupAttributes({ href: url, rel: 'noopener noreferrer nofollow' })}>${text(url)}</a></li>`;
  });
  return `<ul>${items.join('')}</ul>`;
}

function details(values: NonNullable<Finding['details']>): string {
  const items = Object.entries(values).map(([k, v]) => `<li><code>${text(k)}</code>: ${text(Array.isArray(v) ? v.join(', ') : String(v))}</li>`);
  return `<ul>${items.join('')}</ul>`;
}

function compliance(values: NonNullable<Finding['compliance']>): string {
  return Object.entries(values)
    .map(([framework, ids]) => `${text(framework)} ${ids.map((id) => `<code>${text(id)}</code>`).join(', ')}`)
    .join('; ');
}

function labels(values: Record<string, string>): string {
  const pairs = Object.entries(values);
  return pairs.length === 0 ? '<span class="muted">none</span>' : pairs.map(([k, v]) => `<code>${text(`${k}=${v}`)}</code>`).join(' ');
}

function nodeAnchor(index: number): string {
  return `node-${index + 1}`;
}

/** Escaped like node text: severity is typed, but a report is no place to rely on that. */
function severityLabel(severity: Severity): string {
  return text(severity.charAt(0).toUpperCase() + severity.slice(1));
}

function displayTime(iso: string | null): string {
  return iso === null ? 'at an unknown time' : `${iso.replace('T', ' ').replace(/\.\d+Z$/, '')} UTC`;
}

function runTime(node: NodeView): string {
  const started = node.startedAt === null ? 'start unknown' : `started ${displayTime(node.startedAt)}`;
  return node.durationSeconds === null ? started : `${started}, took ${duration(node.durationSeconds)}`;
}

function duration(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

// Plain CSS without `<` or `&`, so the page stays well-formed XML. Colours are
// kept in print (print-color-adjust) because severity is part of the message.
const STYLE = `
:root { color-scheme: light; --critical: #7f1d1d; --high: #c2410c; --medium: #a16207; --low: #1d4ed8; --info: #475569; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #111827; margin: 0 auto; max-width: 72rem; padding: 1.5rem; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; }
h2 { font-size: 1.3rem; margin: 2rem 0 .5rem; border-bottom: 1px solid #d1d5db; padding-bottom: .25rem; }
h3 { font-size: 1.05rem; margin: 1.25rem 0 .5rem; }
h4 { font-size: 1rem; margin: 0 0 .5rem; }
h2, h4, td, dd, li, pre, code, summary { unicode-bidi: isolate; overflow-wrap: anywhere; }
.meta, .muted { color: #4b5563; }
code { font: .9em ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: #f3f4f6; padding: 0 .2em; border-radius: 3px; }
pre { font: .85em/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: #f3f4f6; padding: .5rem; margin: 0; white-space: pre-wrap; max-height: 20rem; overflow: auto; }
.stats { display: flex; flex-wrap: wrap; gap: .75rem; margin: 1rem 0; }
.stat { border: 1px solid #d1d5db; border-radius: 6px; padding: .5rem .9rem; min-width: 7rem; }
.stat dt { font-size: .8rem; color: #4b5563; }
.stat dd { margin: 0; font-size: 1.5rem; font-weight: 600; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid #e5e7eb; vertical-align: top; }
th { font-size: .85rem; color: #374151; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
.finding { border: 1px solid #d1d5db; border-left: 6px solid var(--info); border-radius: 6px; padding: .75rem 1rem; margin: .75rem 0; break-inside: avoid; }
.finding dl { display: grid; grid-template-columns: 8rem 1fr; gap: .3rem .75rem; margin: 0; }
.finding dt { font-weight: 600; color: #374151; }
.finding dd { margin: 0; min-width: 0; }
.finding dd p, .finding dd ul { margin: 0; }
.finding dd ul { padding-left: 1.1rem; }
.badge { display: inline-block; font-size: .75rem; text-transform: uppercase; letter-spacing: .03em; color: #fff; background: var(--info); border-radius: 3px; padding: .05rem .4rem; vertical-align: middle; }
.sev-critical { --sev: var(--critical); } .sev-high { --sev: var(--high); } .sev-medium { --sev: var(--medium); } .sev-low { --sev: var(--low); } .sev-info { --sev: var(--info); }
.finding.sev-critical, .finding.sev-high, .finding.sev-medium, .finding.sev-low, .finding.sev-info { border-left-color: var(--sev); }
.finding .badge { background: var(--sev); }
h3[class^="sev-"], td[class*="sev-"], .severities .stat dd { color: var(--sev); }
.severities .stat-critical { --sev: var(--critical); } .severities .stat-high { --sev: var(--high); } .severities .stat-medium { --sev: var(--medium); } .severities .stat-low { --sev: var(--low); } .severities .stat-info { --sev: var(--info); }
.errors { border: 1px solid var(--critical); border-radius: 6px; padding: .25rem 1rem; margin: .75rem 0; }
details { margin: .75rem 0; }
summary { cursor: pointer; color: #374151; }
a { color: #1d4ed8; }
@media print {
  body { max-width: none; padding: 0; font-size: 11pt; }
  * { print-color-adjust: exact; -webkit-print-color-adjust: exact; }
  section.node { break-before: page; }
  pre { max-height: none; overflow: visible; }
  a { color: inherit; }
}
`;
