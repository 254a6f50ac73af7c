import type { Command } from 'commander';
import type { ClientFlags } from '../context.js';
import { addClientFlags } from './token.js';

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export interface AuditRunFlags extends ClientFlags {
  selector: string;
  pack: string[];
  vulns: boolean;
  tls: boolean;
  tlsTarget: string[];
  timeout: string;
  wait?: boolean;
  json?: boolean;
}

export interface AuditLocalFlags {
  root: string;
  pack: string[];
  policyFile: string[];
  vulndb: string[];
  tlsTarget: string[];
  tls: boolean;
  enableCommandChecks?: boolean;
  format: string;
  output?: string;
  status?: string;
  severity?: string;
}

export interface FindingsFlags extends ClientFlags {
  node?: string;
  selector?: string;
  run?: string;
  severity?: string;
  status?: string;
  kind?: string;
  limit: string;
  json?: boolean;
}

export interface ReportFlags extends ClientFlags {
  format: string;
  output?: string;
  selector?: string;
  run?: string;
}

export interface ScheduleFlags extends ClientFlags {
  name: string;
  selector: string;
  pack: string[];
  vulns: boolean;
  tls: boolean;
  tlsTarget: string[];
  disabled?: boolean;
  json?: boolean;
}

// Loaded on use: the engine and report writers stay out of other commands' start-up.
const actions = () => import('../actions/audit.js');

export function registerAudit(program: Command): void {
  const group = program.command('audit').description('security audits: configuration baselines, package vulnerabilities, TLS endpoints');

  const run = addClientFlags(group.command('run').description('audit the nodes a selector matches, through their agents'))
    .option('--selector <selector>', 'label selector of the nodes (default: every node you may audit)', '')
    .option('--pack <id>', 'policy to evaluate: a built-in pack or a custom policy id (repeatable; default linux-baseline)', collect, [])
    .option('--no-vulns', 'do not match installed packages against the advisory data set')
    .option('--no-tls', "do not scan the nodes' own TLS listeners")
    .option('--tls-target <host:port>', 'also scan this TLS endpoint from each node (repeatable)', collect, [])
    .option('--timeout <duration>', 'per node', '10m')
    .option('--wait', 'wait for every node, with progress, and print the scores')
    .option('--json', 'print JSON');
  run.addHelpText(
    'after',
    `
Exit status with --wait: 0 when every node answered, 1 when some could not be
audited (not connected, timed out, refused).

Examples:
  $ bulwark audit run --wait
  $ bulwark audit run --selector env=prod --pack linux-baseline --pack my-policy --wait
  $ bulwark audit run --selector role=web --tls-target localhost:443 --json`,
  );
  run.action(async (flags: AuditRunFlags) => (await actions()).auditRun(flags));

  const local = group
    .command('local')
    .description('run the audit engine on this machine, or on a directory tree, without a server')
    .option('--root <dir>', 'root of the tree to audit', '/')
    .option('--pack <id>', 'built-in pack to evaluate (repeatable; default linux-baseline unless --policy-file is given)', collect, [])
    .option('--policy-file <file>', 'a policy file (Wazuh SCA or native YAML) to evaluate (repeatable)', collect, [])
    .option('--vulndb <file>', 'advisories (OSV or Debian security tracker JSON) to match installed packages against (repeatable)', collect, [])
    .option('--tls-target <host:port>', 'scan this TLS endpoint (repeatable)', collect, [])
    .option('--no-tls', "do not scan this machine's own TLS listeners (only scanned when --root is /)")
    .option('--enable-command-checks', 'run the command checks (c: rules) of the policies')
    .option('--format <format>', 'table, json, sarif, junit or html', 'table')
    .option('-o, --output <file>', 'write the report to this file instead of stdout')
    .option('--status <status>', 'table: only findings with this status (pass, fail, not_applicable)')
    .option('--severity <severity>', 'table: only findings of at least this severity');
  local.addHelpText(
    'after',
    `
Exit status: 0 when nothing failed, 1 when a finding failed, 2 on bad input.

Examples:
  $ sudo bulwark audit local
  $ bulwark audit local --root /mnt/image --format html -o image-audit.html
  $ bulwark audit local --policy-file cis_debian12.yml --format sarif -o cis.sarif
  $ bulwark audit local --vulndb debian-tracker.json --status fail`,
  );
  local.action(async (flags: AuditLocalFlags) => (await actions()).auditLocal(flags));

  const findings = addClientFlags(group.command('findings').description("findings of each node's latest audit (or of one run)"))
    .option('--node <node>', 'only this node (id or name)')
    .option('--selector <selector>', 'only nodes matching this selector')
    .option('--run <id>', 'findings of this run instead of the latest')
    .option('--severity <severity>', 'at least this severity: critical, high, medium, low, info')
    .option('--status <status>', 'pass, fail or not_applicable (comma-separated)', 'fail')
    .option('--kind <kind>', 'check, vulnerability or tls (comma-separated)')
    .option('--limit <n>', 'at most this many', '10000')
    .option('--json', 'print JSON');
  findings.addHelpText(
    'after',
    `
Examples:
  $ bulwark audit findings --severity high
  $ bulwark audit findings --node db-1 --status fail,not_applicable --json
  $ bulwark audit findings --kind vulnerability --selector env=prod`,
  );
  findings.action(async (flags: FindingsFlags) => (await actions()).auditFindings(flags));

  const report = addClientFlags(group.command('report').description('write a report of the latest results: JSON, SARIF, JUnit or one self-contained HTML file'))
    .option('--format <format>', 'json, sarif, junit or html', 'html')
    .option('-o, --output <file>', 'write to this file (default: stdout)')
    .option('--selector <selector>', 'only nodes matching this selector')
    .option('--run <id>', 'report one run instead of the latest results');
  report.addHelpText('after', '\nExamples:\n  $ bulwark audit report --format html -o fleet.html\n  $ bulwark audit report --format sarif -o audit.sarif --selector env=prod');
  report.action(async (flags: ReportFlags) => (await actions()).auditReport(flags));

  const runs = addClientFlags(group.command('runs').description('recent audit runs')).option('--limit <n>', 'at most this many', '20').option('--json', 'print JSON');
  runs.addHelpText('after', '\nExamples:\n  $ bulwark audit runs\n  $ bulwark audit runs --json --limit 100');
  runs.action(async (flags: ClientFlags & { limit: string; json?: boolean }) => (await actions()).auditRuns(flags));

  const show = addClientFlags(group.command('show').argument('<run>', 'run id').description("one run: each node's status, score and drift")).option('--json', 'print JSON');
  show.addHelpText('after', '\nExamples:\n  $ bulwark audit show 3f1c…');
  show.action(async (id: string, flags: ClientFlags & { json?: boolean }) => (await actions()).auditShow(id, flags));

  const history = addClientFlags(group.command('history').argument('<node>', 'node id or name').description("a node's scores over time")).option('--json', 'print JSON');
  history.addHelpText('after', '\nExamples:\n  $ bulwark audit history db-1');
  history.action(async (node: string, flags: ClientFlags & { json?: boolean }) => (await actions()).auditHistory(node, flags));

  const schedule = group.command('schedule').description('audits on a cron schedule (UTC)');
  const set = addClientFlags(schedule.command('set').argument('<cron>', 'five-field cron expression, e.g. "0 3 * * *"').description('create or replace a schedule'))
    .option('--name <name>', 'schedule name', 'default')
    .option('--selector <selector>', 'label selector of the nodes', '')
    .option('--pack <id>', 'policy to evaluate (repeatable; default linux-baseline)', collect, [])
    .option('--no-vulns', 'do not match packages against advisories')
    .option('--no-tls', 'do not scan TLS listeners')
    .option('--tls-target <host:port>', 'also scan this endpoint from each node (repeatable)', collect, [])
    .option('--disabled', 'store the schedule without running it')
    .option('--json', 'print JSON');
  set.addHelpText('after', '\nExamples:\n  $ bulwark audit schedule set "0 3 * * *" --selector env=prod\n  $ bulwark audit schedule set "*/30 * * * *" --name web-tls --selector role=web --pack linux-baseline');
  set.action(async (cron: string, flags: ScheduleFlags) => (await actions()).scheduleSet(cron, flags));
  const sls = addClientFlags(schedule.command('ls').description('list schedules')).option('--json', 'print JSON');
  sls.addHelpText('after', '\nExamples:\n  $ bulwark audit schedule ls --json');
  sls.action(async (flags: ClientFlags & { json?: boolean }) => (await actions()).scheduleList(flags));
  const srm = addClientFlags(schedule.command('rm').argument('<name>', 'schedule name').description('delete a schedule'));
  srm.addHelpText('after', '\nExamples:\n  $ bulwark audit schedule rm default');
  srm.action(async (name: string, flags: ClientFlags) => (await actions()).scheduleRemove(name, flags));
  for (const cmd of schedule.commands) cmd.exitOverride();
}

export function registerPolicy(program: Command): void {
  const group = program.command('policy').description('audit policies: Wazuh SCA files as they are, or native YAML');
  const validate = group.command('validate').argument('<file...>', 'policy files').description('check policy files without loading them; exits 2 naming the file, line and problem');
  validate.addHelpText('after', '\nExamples:\n  $ bulwark policy validate cis_debian12.yml\n  $ bulwark policy validate policies/*.yml');
  validate.action(async (files: string[]) => (await actions()).policyValidate(files));
  const add = addClientFlags(group.command('add').argument('<file>', 'policy file').description('validate and store a custom policy on the server (replaces one of the same id)')).option('--json', 'print JSON');
  add.addHelpText('after', '\nExamples:\n  $ bulwark policy add my-policy.yml\n  $ bulwark audit run --pack my-policy --wait');
  add.action(async (file: string, flags: ClientFlags & { json?: boolean }) => (await actions()).policyAdd(file, flags));
  const ls = addClientFlags(group.command('ls').description('list built-in packs and custom policies')).option('--json', 'print JSON');
  ls.addHelpText('after', '\nExamples:\n  $ bulwark policy ls');
  ls.action(async (flags: ClientFlags & { json?: boolean }) => (await actions()).policyList(flags));
  const show = addClientFlags(group.command('show').argument('<id>', 'custom policy id').description("print a custom policy's YAML"));
  show.addHelpText('after', '\nExamples:\n  $ bulwark policy show my-policy > my-policy.yml');
  show.action(async (id: string, flags: ClientFlags) => (await actions()).policyShow(id, flags));
  const rm = addClientFlags(group.command('rm').argument('<id>', 'custom policy id').description('delete a custom policy'));
  rm.addHelpText('after', '\nExamples:\n  $ bulwark policy rm my-policy');
  rm.action(async (id: string, flags: ClientFlags) => (await actions()).policyRemove(id, flags));
}

export function registerVulndb(program: Command): void {
  const group = program.command('vulndb').description('the advisory data set packages are matched against (offline: import files)');
  const imp = addClientFlags(group.command('import').argument('<file...>', 'OSV JSON (a record, a list, or a folder of records) or Debian security tracker JSON').description('load advisories; re-importing replaces records by id')).option('--json', 'print JSON');
  imp.addHelpText(
    'after',
    `
Examples:
  $ curl -o tracker.json https://security-tracker.debian.org/tracker/data/json   # on a connected machine
  $ bulwark vulndb import tracker.json
  $ bulwark vulndb import osv/DSA-*.json`,
  );
  imp.action(async (files: string[], flags: ClientFlags & { json?: boolean }) => (await actions()).vulndbImport(files, flags));
  const status = addClientFlags(group.command('status').description('what the data set holds')).option('--json', 'print JSON');
  status.addHelpText('after', '\nExamples:\n  $ bulwark vulndb status');
  status.action(async (flags: ClientFlags & { json?: boolean }) => (await actions()).vulndbStatus(flags));
}
