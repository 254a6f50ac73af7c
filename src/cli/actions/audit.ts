import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { hostname } from 'node:os';
import { BulwarkError } from '../../core/errors.js';
import { parseDuration } from '../../core/duration.js';
import { parseSelector } from '../../core/labels.js';
import { writeFileAtomic } from '../../core/fs.js';
import { SEVERITIES, severityRank, summarize, type Finding, type Severity } from '../../checks/model.js';
import { createRootedHost, parsePolicy, type Policy } from '../../checks/policy/index.js';
import { REPORT_FORMATS, renderReport, type ReportFormat } from '../../checks/report/index.js';
import { matchInventory, runAudit, type PolicySource } from '../../checks/run.js';
import { parseAdvisoryFile, type Advisory } from '../../checks/vuln/index.js';
import { AuditsClient } from '../../client/audits-client.js';
import type { AuditRunDetailSchema, NodeResultViewSchema } from '../../protocol/checks.js';
import { clientFrom, type ClientFlags } from '../context.js';
import { ago, clean, isoTime, printJson, printTable, Progress } from '../output.js';
import type { AuditLocalFlags, AuditRunFlags, FindingsFlags, ReportFlags, ScheduleFlags } from '../commands/audit.js';
import type { z } from 'zod';

type NodeResultView = z.infer<typeof NodeResultViewSchema>;
type RunDetail = z.infer<typeof AuditRunDetailSchema>;

const POLL_MS = 1000;

async function audits(flags: ClientFlags): Promise<AuditsClient> {
  return new AuditsClient(await clientFrom(flags));
}

function severityAtLeast(value: string | undefined, flag: string): Severity | undefined {
  if (value === undefined) return undefined;
  if (!(SEVERITIES as readonly string[]).includes(value)) throw new BulwarkError('BAD_REQUEST', `${flag} must be one of ${SEVERITIES.join(', ')}, not "${value}"`);
  return value as Severity;
}

function reportFormat(value: string, extra: readonly string[] = []): ReportFormat | 'table' {
  if (extra.includes(value)) return value as 'table';
  if (!(REPORT_FORMATS as readonly string[]).includes(value)) throw new BulwarkError('BAD_REQUEST', `--format must be one of ${[...extra, ...REPORT_FORMATS].join(', ')}, not "${value}"`);
  return value as ReportFormat;
}

function timeoutSeconds(text: string): number {
  const ms = parseDuration(text);
  if (ms < 5000 || ms > 3_600_000) throw new BulwarkError('BAD_REQUEST', `--timeout must be between 5s and 1h, not "${text}"`);
  return Math.ceil(ms / 1000);
}

function scoreText(r: NodeResultView): string {
  return r.summary ? `${r.summary.score.toFixed(1)}%` : '-';
}

function severityCounts(r: NodeResultView): string {
  const s = r.summary?.failedBySeverity;
  if (!s) return '-';
  return ['critical', 'high', 'medium', 'low'].map((k) => `${s[k] ?? 0}`).join('/');
}

function driftText(r: NodeResultView): string {
  const d = r.drift;
  if (!d) return r.status === 'done' ? 'first run' : '-';
  const parts = [d.regressed.length ? `${d.regressed.length} regressed` : '', d.newVulnerabilities.length ? `${d.newVulnerabilities.length} new vuln` : '', d.newTls.length ? `${d.newTls.length} new tls` : '', d.resolved.length ? `${d.resolved.length} resolved` : ''].filter((p) => p !== '');
  return parts.length ? parts.join(', ') : 'no change';
}

function printResults(results: NodeResultView[]): void {
  printTable(
    { node: 'NODE', status: 'STATUS', score: 'SCORE', failed: 'FAILED C/H/M/L', drift: 'DRIFT', note: 'NOTE' },
    results.map((r) => ({
      node: r.nodeName,
      status: r.status,
      score: scoreText(r),
      failed: severityCounts(r),
      drift: driftText(r),
      note: r.failure ? `${r.failure.code}: ${r.failure.message}` : r.errors.length ? `${r.errors.length} error(s): ${r.errors[0]?.message ?? ''}` : '',
    })),
  );
}

export async function auditRun(flags: AuditRunFlags): Promise<void> {
  parseSelector(flags.selector);
  const client = await audits(flags);
  const started = await client.startRun({
    selector: flags.selector,
    policies: flags.pack.length ? flags.pack : ['linux-baseline'],
    vulnerabilities: flags.vulns,
    tlsListeners: flags.tls,
    tlsTargets: flags.tlsTarget,
    timeoutSeconds: timeoutSeconds(flags.timeout),
  });
  if (!flags.wait) {
    if (flags.json) return printJson(started);
    process.stdout.write(`Audit run ${started.run.id} started on ${started.nodes.length} node(s); follow it with \`bulwark audit show ${started.run.id}\`\n`);
    return;
  }
  const progress = new Progress('auditing', started.nodes.length);
  let detail: RunDetail;
  for (;;) {
    detail = await client.run(started.run.id);
    progress.update(detail.results.filter((r) => r.status !== 'pending').length);
    if (detail.run.status === 'done') break;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  progress.done();
  if (flags.json) printJson(detail);
  else printResults(detail.results);
  if (detail.results.some((r) => r.status === 'failed')) process.exitCode = 1;
}

export async function auditShow(id: string, flags: ClientFlags & { json?: boolean }): Promise<void> {
  const detail = await (await audits(flags)).run(id);
  if (flags.json) return printJson(detail);
  const run = detail.run;
  process.stdout.write(`run ${run.id}  ${run.status}  ${run.trigger} by ${clean(run.requestedBy)}  started ${isoTime(run.createdAt)}  policies ${run.spec.policies.join(', ')}\n\n`);
  printResults(detail.results);
}

export async function auditRuns(flags: ClientFlags & { limit: string; json?: boolean }): Promise<void> {
  const limit = Number(flags.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new BulwarkError('BAD_REQUEST', `--limit must be a whole number from 1 to 1000, not "${flags.limit}"`);
  const { runs } = await (await audits(flags)).runs(limit);
  if (flags.json) return printJson(runs);
  printTable(
    { id: 'ID', status: 'STATUS', trigger: 'TRIGGER', by: 'BY', nodes: 'NODES', started: 'STARTED', policies: 'POLICIES' },
    runs.map((r) => ({ id: r.id, status: r.status, trigger: r.trigger, by: r.requestedBy, nodes: String(r.nodeCount), started: ago(r.createdAt), policies: r.spec.policies.join(',') })),
  );
}

export async function auditHistory(node: string, flags: ClientFlags & { json?: boolean }): Promise<void> {
  const { results } = await (await audits(flags)).history(node);
  if (flags.json) return printJson(results);
  printTable(
    { finished: 'FINISHED', run: 'RUN', score: 'SCORE', failed: 'FAILED C/H/M/L', drift: 'DRIFT' },
    results.map((r) => ({ finished: isoTime(r.finishedAt), run: r.runId, score: scoreText(r), failed: severityCounts(r), drift: driftText(r) })),
  );
}

function printFindings(findings: readonly (Finding & { nodeName?: string })[], withNode: boolean): void {
  const sorted = [...findings].sort((a, b) => severityRank(b.severity) - severityRank(a.severity) || (a.nodeName ?? '').localeCompare(b.nodeName ?? '') || a.key.localeCompare(b.key));
  printTable(
    { ...(withNode ? { node: 'NODE' } : {}), severity: 'SEVERITY', status: 'STATUS', id: 'ID', title: 'TITLE', evidence: 'EVIDENCE' },
    sorted.map((f) => ({
      ...(withNode ? { node: f.nodeName ?? '' } : {}),
      severity: f.severity,
      status: f.status,
      id: f.ruleId,
      title: f.title.length > 60 ? `${f.title.slice(0, 59)}…` : f.title,
      evidence: (f.evidence.split('\n')[0] ?? '').slice(0, 80),
    })),
  );
}

export async function auditFindings(flags: FindingsFlags): Promise<void> {
  const minSeverity = severityAtLeast(flags.severity, '--severity');
  if (flags.selector !== undefined) parseSelector(flags.selector);
  const limit = Number(flags.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 100_000) throw new BulwarkError('BAD_REQUEST', `--limit must be a whole number from 1 to 100000, not "${flags.limit}"`);
  const { findings, truncated } = await (await audits(flags)).findings({
    ...(flags.node !== undefined ? { node: flags.node } : {}),
    ...(flags.selector !== undefined ? { selector: flags.selector } : {}),
    ...(flags.run !== undefined ? { run: flags.run } : {}),
    ...(minSeverity ? { minSeverity } : {}),
    ...(flags.status ? { status: flags.status } : {}),
    ...(flags.kind ? { kind: flags.kind } : {}),
    limit,
  });
  if (flags.json) return printJson(findings);
  printFindings(findings, true);
  if (truncated) process.stderr.write(`(showing the first ${limit}; narrow the filter or raise --limit)\n`);
}

async function writeOutput(text: string, output: string | undefined): Promise<void> {
  if (output === undefined) {
    process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
    return;
  }
  await writeFileAtomic(output, text, 0o644);
  process.stderr.write(`report written to ${output}\n`);
}

export async function auditReport(flags: ReportFlags): Promise<void> {
  const format = reportFormat(flags.format);
  if (flags.selector !== undefined) parseSelector(flags.selector);
  const text = await (await audits(flags)).report(format, { ...(flags.selector !== undefined ? { selector: flags.selector } : {}), ...(flags.run !== undefined ? { run: flags.run } : {}) });
  await writeOutput(text, flags.output);
}

/** Reads advisory files; a directory stands for the JSON files in it (an unpacked OSV archive). */
async function readAdvisories(paths: readonly string[]): Promise<{ name: string; text: string }[]> {
  const files: { name: string; text: string }[] = [];
  for (const path of paths) {
    const info = await stat(path).catch(() => {
      throw new BulwarkError('BAD_REQUEST', `cannot read ${path}: no such file or directory`);
    });
    if (info.isDirectory()) {
      for (const entry of (await readdir(path)).filter((e) => e.endsWith('.json')).sort()) files.push({ name: entry, text: await readFile(join(path, entry), 'utf8') });
    } else {
      files.push({ name: basename(path), text: await readFile(path, 'utf8') });
    }
  }
  return files;
}

/** Reads and parses a policy file; either failing names the file (and for a bad policy, the line). */
async function readPolicyFile(file: string): Promise<{ text: string; policy: Policy }> {
  const text = await readFile(file, 'utf8').catch(() => {
    throw new BulwarkError('BAD_REQUEST', `cannot read policy file ${file}`);
  });
  return { text, policy: parsePolicy(text, basename(file)) };
}

export async function auditLocal(flags: AuditLocalFlags): Promise<void> {
  const format = reportFormat(flags.format, ['table']);
  // A mistyped root would otherwise audit an empty tree and report a score.
  if (!(await stat(flags.root).then((s) => s.isDirectory(), () => false))) {
    throw new BulwarkError('BAD_REQUEST', `--root ${flags.root} is not a directory; give the root of the tree to audit (/ for this machine)`);
  }
  const minSeverity = severityAtLeast(flags.severity, '--severity');
  const policies: PolicySource[] = [];
  for (const file of flags.policyFile) {
    const { text, policy } = await readPolicyFile(file);
    policies.push({ id: policy.id, text });
  }
  const packs = flags.pack.length ? flags.pack : flags.policyFile.length ? [] : ['linux-baseline'];
  policies.unshift(...packs.map((builtin) => ({ builtin })));
  const advisories: Advisory[] = [];
  for (const file of await readAdvisories(flags.vulndb)) advisories.push(...parseAdvisoryFile(file.text, file.name).advisories);
  const host = createRootedHost(flags.root, flags.enableCommandChecks ? { commands: { timeoutMs: 30_000, maxOutputBytes: 64 * 1024 } } : {});
  const output = await runAudit(host, { policies, inventory: flags.vulndb.length > 0, tlsListeners: flags.tls, tlsTargets: flags.tlsTarget });
  const findings = [...output.findings];
  if (output.inventory) findings.push(...matchInventory(output.inventory, advisories));
  for (const error of output.errors) process.stderr.write(`warning: ${clean(error.source)}: ${clean(error.message)}\n`);
  const summary = summarize(findings);
  if (format === 'table') {
    const shown = findings.filter((f) => (flags.status ? f.status === flags.status : f.status === 'fail') && (!minSeverity || severityRank(f.severity) >= severityRank(minSeverity)));
    printFindings(shown, false);
    process.stdout.write(
      `\nscore ${summary.score.toFixed(1)}%: ${summary.passed} passed, ${summary.failed} failed (critical ${summary.failedBySeverity.critical}, high ${summary.failedBySeverity.high}, medium ${summary.failedBySeverity.medium}, low ${summary.failedBySeverity.low}), ${summary.notApplicable} not applicable\n`,
    );
  } else {
    const name = flags.root === '/' ? hostname() : flags.root;
    const text = renderReport(format, {
      title: `Bulwark audit of ${name}`,
      generatedAt: output.finishedAt,
      nodes: [{ nodeId: 'local', nodeName: name, labels: {}, runId: 'local', startedAt: output.startedAt, finishedAt: output.finishedAt, summary, findings, errors: output.errors }],
    });
    await writeOutput(text, flags.output);
  }
  if (summary.failed > 0) process.exitCode = 1;
}

export async function scheduleSet(cron: string, flags: ScheduleFlags): Promise<void> {
  parseSelector(flags.selector);
  const schedule = await (await audits(flags)).setSchedule({
    name: flags.name,
    cron,
    selector: flags.selector,
    enabled: flags.disabled !== true,
    policies: flags.pack.length ? flags.pack : ['linux-baseline'],
    vulnerabilities: flags.vulns,
    tlsListeners: flags.tls,
    tlsTargets: flags.tlsTarget,
  });
  if (flags.json) return printJson(schedule);
  process.stdout.write(`Schedule "${schedule.name}" (${schedule.cron} UTC) ${schedule.enabled ? `next runs at ${isoTime(schedule.nextRunAt)}` : 'is stored, disabled'}\n`);
}

export async function scheduleList(flags: ClientFlags & { json?: boolean }): Promise<void> {
  const { schedules } = await (await audits(flags)).schedules();
  if (flags.json) return printJson(schedules);
  printTable(
    { name: 'NAME', cron: 'CRON (UTC)', selector: 'SELECTOR', policies: 'POLICIES', next: 'NEXT RUN', last: 'LAST RUN' },
    schedules.map((s) => ({ name: s.name, cron: s.cron, selector: s.selector || '(all)', policies: s.spec.policies.join(','), next: s.enabled ? isoTime(s.nextRunAt) : 'disabled', last: ago(s.lastRunAt) })),
  );
}

export async function scheduleRemove(name: string, flags: ClientFlags): Promise<void> {
  await (await audits(flags)).removeSchedule(name);
  process.stdout.write(`Schedule "${name}" deleted\n`);
}

export async function policyValidate(files: string[]): Promise<void> {
  for (const file of files) {
    const { policy } = await readPolicyFile(file);
    process.stdout.write(`${file}: ok, policy "${clean(policy.id)}" (${policy.format}), ${policy.checks.length} checks\n`);
  }
}

export async function policyAdd(file: string, flags: ClientFlags & { json?: boolean }): Promise<void> {
  // Validated here first: the error names the file and line without a round trip.
  const { text } = await readPolicyFile(file);
  const added = await (await audits(flags)).addPolicy(text, basename(file));
  if (flags.json) return printJson(added);
  process.stdout.write(`Policy "${clean(added.policy.id)}" ${added.created ? 'added' : 'replaced'}: ${added.policy.checkCount} checks; run it with \`bulwark audit run --pack ${added.policy.id}\`\n`);
}

export async function policyList(flags: ClientFlags & { json?: boolean }): Promise<void> {
  const { policies } = await (await audits(flags)).policies();
  if (flags.json) return printJson(policies);
  printTable(
    { id: 'ID', name: 'NAME', format: 'FORMAT', checks: 'CHECKS', origin: 'ORIGIN' },
    policies.map((p) => ({ id: p.id, name: p.name, format: p.format, checks: String(p.checkCount), origin: p.builtin ? 'built-in' : `custom (${p.createdBy ?? '-'})` })),
  );
}

export async function policyShow(id: string, flags: ClientFlags): Promise<void> {
  process.stdout.write(await (await audits(flags)).policyText(id));
}

export async function policyRemove(id: string, flags: ClientFlags): Promise<void> {
  await (await audits(flags)).removePolicy(id);
  process.stdout.write(`Policy "${id}" deleted\n`);
}

export async function vulndbImport(paths: string[], flags: ClientFlags & { json?: boolean }): Promise<void> {
  const client = await audits(flags);
  const files = await readAdvisories(paths);
  const progress = new Progress('importing', files.length);
  const results = [];
  for (const [i, file] of files.entries()) {
    // Parsed here first, so a malformed file fails fast with its name and field.
    parseAdvisoryFile(file.text, file.name);
    results.push({ file: file.name, ...(await client.importAdvisories(file.text, file.name)) });
    progress.update(i + 1);
  }
  progress.done();
  if (flags.json) return printJson(results);
  for (const r of results) process.stdout.write(`${r.file}: ${r.format}, ${r.added} added, ${r.updated} updated${r.skipped ? `, ${r.skipped} skipped (not Debian)` : ''}\n`);
}

export async function vulndbStatus(flags: ClientFlags & { json?: boolean }): Promise<void> {
  const { sources } = await (await audits(flags)).vulndb();
  if (flags.json) return printJson(sources);
  if (sources.length === 0) {
    process.stdout.write('no advisories loaded; import some with `bulwark vulndb import FILE`\n');
    return;
  }
  printTable({ origin: 'ORIGIN', count: 'ADVISORIES', last: 'LAST IMPORT' }, sources.map((s) => ({ origin: s.origin, count: String(s.count), last: isoTime(s.lastImportAt) })));
}
