import { readFile } from 'node:fs/promises';
import { posix } from 'node:path';
import type { Command } from 'commander';
import { parseRetentionFlags, type RetentionFlags } from '../../backup/retention.js';
import { BackupsClient } from '../../client/backups-client.js';
import { formatDuration, parseDuration } from '../../core/duration.js';
import { BulwarkError, isErrorCode } from '../../core/errors.js';
import { parseSelector } from '../../core/labels.js';
import { BACKUP_LIMITS, type DrillView, type PolicyInput, type PolicyView, type Retention, type RunView, type S3Credentials, type StatusRow } from '../../protocol/backup.js';
import { credentialFrom, formatBytes, formatSeconds, PARTIAL_EXIT } from '../backup-context.js';
import { clientFrom, type ClientFlags } from '../context.js';
import { ago, clean, isoTime, printJson, printTable } from '../output.js';
import { readS3KeysFile } from '../s3-keys-file.js';
import { addClientFlags } from './token.js';

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];
/** `--paths a,b --paths c` → [a, b, c]. */
const collectList = (value: string, previous: string[] = []): string[] => [...previous, ...value.split(',').map((p) => p.trim()).filter((p) => p !== '')];

async function backupsClient(flags: ClientFlags): Promise<BackupsClient> {
  return new BackupsClient(await clientFrom(flags));
}

function shortId(id: string | null): string {
  return id === null ? '-' : id.slice(0, 8);
}

function wholeNumber(flag: string, text: string | undefined, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text.trim());
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < min || n > max) throw new BulwarkError('BAD_REQUEST', `${flag} must be a whole number from ${min} to ${max}, not ${JSON.stringify(text)}`);
  return n;
}

function waitSeconds(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const ms = parseDuration(text);
  if (ms < 1000 || ms > BACKUP_LIMITS.maxWaitSeconds * 1000) throw new BulwarkError('BAD_REQUEST', `--timeout must be between 1s and 24h, not "${text}"`);
  return Math.ceil(ms / 1000);
}

/** A path on the node: absolute and normalised (`etc/app` → `/etc/app`). */
function nodePath(flag: string, text: string): string {
  const normalised = posix.normalize(text.startsWith('/') ? text : `/${text}`).replace(/(.)\/+$/, '$1');
  if (normalised.split('/').includes('..')) throw new BulwarkError('BAD_REQUEST', `${flag} ${JSON.stringify(text)} must not contain ".."`);
  return normalised;
}

function describeRetention(r: Retention | null): string {
  if (r === null) return '-';
  const parts: string[] = [];
  for (const key of ['last', 'hourly', 'daily', 'weekly', 'monthly', 'yearly'] as const) if (r[key] !== undefined) parts.push(`${key} ${r[key] === -1 ? '∞' : String(r[key])}`);
  if (r.within !== undefined) parts.push(`within ${formatDuration(r.within)}`);
  if (r.tags !== undefined) parts.push(`tags ${r.tags.join(',')}`);
  return parts.join(', ');
}

function ageText(ms: number | null): string {
  return ms === null ? '-' : formatDuration(Math.max(1000, Math.round(ms / 1000) * 1000));
}

// ---------------------------------------------------------------------------
// restore --node (called from `backup restore` when --node is given)

export interface NodeRestoreFlags extends ClientFlags {
  node: string;
  fromNode?: string;
  policy?: string;
  target: string;
  include: string[];
  json?: boolean;
}

/**
 * `bulwark backup restore SNAPSHOT --node N --target DIR`: the node's agent
 * opens the repository of its policy and restores there; this waits for it.
 */
export async function restoreOnNode(ref: string, flags: { node: string; fromNode?: string; policy?: string; target: string; include: string[]; json?: boolean } & ClientFlags): Promise<void> {
  if (!flags.target.startsWith('/')) throw new BulwarkError('BAD_REQUEST', `--target ${JSON.stringify(flags.target)} must be an absolute path on the node`);
  const client = await backupsClient(flags);
  const outcome = await client.restore({
    node: flags.node,
    ...(flags.fromNode === undefined ? {} : { fromNode: flags.fromNode }),
    ...(flags.policy === undefined ? {} : { policy: flags.policy }),
    snapshot: ref,
    target: nodePath('--target', flags.target),
    include: flags.include.map((p) => nodePath('--include', p)),
  });
  if (flags.json) printJson(outcome);
  else {
    process.stdout.write(
      `restored ${outcome.files} files (${formatBytes(outcome.bytes)}), ${outcome.dirs} directories, ${outcome.symlinks} symlinks of snapshot ${shortId(outcome.snapshotId)} (${clean(outcome.host)}, ${isoTime(outcome.snapshotTime)}, policy ${clean(outcome.policy)}) into ${clean(outcome.target)} on ${clean(outcome.nodeName)} in ${formatSeconds(outcome.durationMs)}\n`,
    );
    for (const p of outcome.problems) process.stderr.write(`error: ${clean(p.path)}: ${clean(p.message)}\n`);
    if (outcome.problemCount > outcome.problems.length) process.stderr.write(`… and ${outcome.problemCount - outcome.problems.length} more\n`);
  }
  if (outcome.problemCount > 0) {
    if (!flags.json) process.stderr.write(`${outcome.problemCount} paths were not restored; everything else was\n`);
    process.exitCode = PARTIAL_EXIT;
  }
}

// ---------------------------------------------------------------------------
// policy set | ls | show | rm | run, status, runs

interface PolicySetFlags extends ClientFlags, RetentionFlags {
  selector: string;
  paths: string[];
  exclude: string[];
  schedule: string;
  repo: string;
  s3Endpoint?: string;
  s3KeysFile?: string;
  s3KeysFromEnv?: boolean;
  passwordFile?: string;
  keyFile?: string;
  prune?: boolean;
  tag: string[];
  keepTag: string[];
  drillSchedule?: string;
  drillSample?: string;
  maxAge?: string;
  json?: boolean;
}

/** The retention policy of the `--keep-*` flags; none given: no forget (unlike `backup forget`, a policy need not keep-rule). */
function retentionFrom(flags: PolicySetFlags): Retention | undefined {
  const given = flags.keepLast ?? flags.keepHourly ?? flags.keepDaily ?? flags.keepWeekly ?? flags.keepMonthly ?? flags.keepYearly ?? flags.keepWithin;
  if (given === undefined && flags.keepTag.length === 0) return undefined;
  const policy = parseRetentionFlags({ ...flags, ...(flags.keepTag.length === 0 ? { keepTag: undefined } : {}) });
  return { ...policy };
}

/**
 * The S3 keys to store with a policy, only when asked for: taken silently from
 * the shell, an operator's own (often broad) keys would end up on every node.
 */
async function s3KeysFrom(flags: PolicySetFlags): Promise<S3Credentials | undefined> {
  if (flags.s3KeysFile === undefined && flags.s3KeysFromEnv !== true) return undefined;
  if (flags.s3KeysFile !== undefined && flags.s3KeysFromEnv === true) throw new BulwarkError('BAD_REQUEST', 'give --s3-keys-file or --s3-keys-from-env, not both');
  if (!/^s3:/i.test(flags.repo.trim())) throw new BulwarkError('BAD_REQUEST', 'S3 access keys only apply to an s3:// repository');
  if (flags.s3KeysFile !== undefined) return readS3KeysFile(flags.s3KeysFile);
  const accessKeyId = process.env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = process.env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey) throw new BulwarkError('BAD_REQUEST', '--s3-keys-from-env: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must both be set');
  if (process.env.AWS_SESSION_TOKEN) throw new BulwarkError('BAD_REQUEST', '--s3-keys-from-env: this shell has temporary keys (AWS_SESSION_TOKEN), which expire on the nodes; give long-lived keys limited to the bucket');
  return { accessKeyId, secretAccessKey };
}

async function policyInput(flags: PolicySetFlags): Promise<Parameters<BackupsClient['setPolicy']>[1]> {
  parseSelector(flags.selector);
  if (flags.passwordFile !== undefined && flags.keyFile !== undefined) throw new BulwarkError('BAD_REQUEST', 'give --password-file or --key-file, not both');
  if (flags.paths.length === 0) throw new BulwarkError('BAD_REQUEST', '--paths names at least one absolute path, e.g. --paths /var/lib/app,/etc');
  let credential: PolicyInput['credential'];
  if (flags.keyFile !== undefined) {
    const bytes = await readFile(flags.keyFile).catch((err: NodeJS.ErrnoException) => {
      throw new BulwarkError('BAD_REQUEST', `cannot read the key file ${flags.keyFile ?? ''} (${err.code ?? 'error'})`);
    });
    if (bytes.length > BACKUP_LIMITS.maxKeyFileBytes) throw new BulwarkError('BAD_REQUEST', `the key file is ${bytes.length} bytes; a policy holds at most ${BACKUP_LIMITS.maxKeyFileBytes}`);
    credential = { kind: 'key-file', keyFile: bytes.toString('base64') };
    bytes.fill(0);
  } else if (flags.passwordFile !== undefined) {
    const c = await credentialFrom({ passwordFile: flags.passwordFile });
    if (c.kind === 'password') credential = { kind: 'password', password: c.password };
  }
  const s3Credentials = await s3KeysFrom(flags);
  const retention = retentionFrom(flags);
  const drillSample = wholeNumber('--drill-sample', flags.drillSample, 1, BACKUP_LIMITS.maxDrillSample);
  return {
    selector: flags.selector,
    paths: flags.paths.map((p) => {
      if (!p.startsWith('/')) throw new BulwarkError('BAD_REQUEST', `--paths ${JSON.stringify(p)} must be an absolute path on the nodes`);
      return p.length > 1 ? p.replace(/\/+$/, '') : p;
    }),
    excludes: flags.exclude,
    tags: flags.tag,
    schedule: flags.schedule,
    repo: flags.repo,
    ...(flags.s3Endpoint === undefined ? {} : { s3Endpoint: flags.s3Endpoint }),
    ...(credential === undefined ? {} : { credential }),
    ...(s3Credentials === undefined ? {} : { s3Credentials }),
    ...(retention === undefined ? {} : { retention }),
    prune: flags.prune === true,
    ...(flags.drillSchedule === undefined ? {} : { drillSchedule: flags.drillSchedule }),
    ...(drillSample === undefined ? {} : { drillSample }),
    ...(flags.maxAge === undefined ? {} : { maxAgeSeconds: Math.max(1, Math.round(parseDuration(flags.maxAge) / 1000)) }),
  };
}

function printPolicy(p: PolicyView): void {
  const rows: [string, string][] = [
    ['name', p.name],
    ['selector', p.selector],
    ['paths', p.paths.join(' ')],
    ['excludes', p.excludes.join(' ') || '-'],
    ['tags', p.tags.join(',') || '-'],
    ['schedule', `${p.schedule} (UTC)`],
    ['repository', `${p.repo}${p.s3Endpoint === null ? '' : ` at ${p.s3Endpoint}`}`],
    ['credential', `${p.credential.kind} (stored encrypted, never shown)${p.credential.s3Keys ? ' + S3 access keys' : ''}`],
    ['retention', `${describeRetention(p.retention)}${p.prune ? ', then prune' : ''}`],
    ['max age (RPO)', `${formatDuration(p.maxAgeSeconds * 1000)}${p.maxAgeDefault ? ' (twice the schedule interval)' : ''}`],
    ['drills', p.drillSchedule === null ? `on demand, ${p.drillSample} files` : `${p.drillSchedule} (UTC), ${p.drillSample} files`],
    ['version', `${p.version}, updated ${isoTime(p.updatedAt)} by ${p.updatedBy}`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) process.stdout.write(`${k.padEnd(width)}  ${clean(v)}\n`);
}

function printRuns(runs: readonly RunView[]): void {
  printTable(
    { time: 'FINISHED', node: 'NODE', policy: 'POLICY', trigger: 'TRIGGER', state: 'STATE', snapshot: 'SNAPSHOT', files: 'FILES NEW/CHG/UNCH', added: 'ADDED', stored: 'STORED', error: 'ERROR' },
    runs.map((r) => ({
      time: isoTime(r.finishedAt),
      node: r.nodeName,
      policy: r.policy,
      trigger: r.trigger,
      state: r.state,
      snapshot: shortId(r.snapshotId),
      files: r.stats ? `${r.stats.filesNew}/${r.stats.filesChanged}/${r.stats.filesUnchanged}${r.stats.errors > 0 ? ` (${r.stats.errors} unreadable)` : ''}` : '-',
      added: r.stats ? formatBytes(r.stats.bytesAdded) : '-',
      stored: r.stats ? formatBytes(r.stats.bytesStored) : '-',
      error: r.error ? `${r.error.code}: ${r.error.message}` : r.notes.join('; '),
    })),
  );
}

function printStatus(rows: readonly StatusRow[], now: number): void {
  if (rows.length === 0) {
    process.stdout.write('No node is covered by a backup policy.\n');
    return;
  }
  printTable(
    { node: 'NODE', policy: 'POLICY', good: 'LAST GOOD', age: 'AGE', objective: 'MAX AGE', rpo: 'RPO', last: 'LAST RUN', next: 'NEXT DUE', error: 'ERROR' },
    rows.map((r) => ({
      node: r.nodeName,
      policy: r.policy,
      good: r.lastGoodAt === null ? 'never' : isoTime(r.lastGoodAt),
      age: ageText(r.ageMs),
      objective: formatDuration(r.maxAgeMs),
      rpo: r.overdue ? 'OVERDUE' : 'ok',
      last: r.lastRunState === null ? '-' : `${r.lastRunState} ${ago(r.lastRunAt, now)}`,
      next: r.nextDueAt === null ? '-' : isoTime(r.nextDueAt),
      error: r.lastError ? `${r.lastError.code}: ${r.lastError.message}` : '',
    })),
  );
}

function printDrills(drills: readonly DrillView[]): void {
  printTable(
    { time: 'FINISHED', node: 'NODE', policy: 'POLICY', trigger: 'TRIGGER', state: 'STATE', snapshot: 'SNAPSHOT', files: 'VERIFIED/SAMPLED', restore: 'SAMPLE RESTORE', rto: 'EST. RTO', rpo: 'RPO', error: 'ERROR' },
    drills.map((d) => ({
      time: isoTime(d.finishedAt),
      node: d.nodeName,
      policy: d.policy,
      trigger: d.trigger,
      state: d.state,
      snapshot: shortId(d.snapshotId),
      files: `${d.filesVerified}/${d.filesSampled}`,
      restore: formatSeconds(d.restoreMs),
      rto: d.estimatedRtoMs === null ? '-' : formatSeconds(d.estimatedRtoMs),
      rpo: ageText(d.rpoMs),
      error: d.error ? `${d.error.code}: ${d.error.message}` : d.failures.map((f) => f.path).join(' '),
    })),
  );
}

function printDrill(d: DrillView): void {
  process.stdout.write(
    `drill ${d.state} on ${clean(d.nodeName)} (policy ${clean(d.policy)}), snapshot ${shortId(d.snapshotId)} of ${isoTime(d.snapshotTime)}\n` +
      `files: ${d.filesVerified} of ${d.filesSampled} sampled verified (${d.filesInSnapshot} in the snapshot), ${formatBytes(d.sampleBytes)} restored in ${formatSeconds(d.restoreMs)}\n` +
      `RPO (snapshot age): ${ageText(d.rpoMs)}; estimated full restore (RTO): ${d.estimatedRtoMs === null ? '-' : formatSeconds(d.estimatedRtoMs)} for ${formatBytes(d.totalBytes)} (scaled from the sample: an estimate)\n`,
  );
  if (d.error) process.stderr.write(`error: ${d.error.code}: ${clean(d.error.message)}\n`);
  for (const f of d.failures) process.stderr.write(`failed: ${clean(f.path)}: ${clean(f.reason)}\n`);
}

/**
 * Adds the fleet commands to the `backup` group (`policy`, `status`, `runs`)
 * and the top-level `drill`. Call after `registerBackup`.
 */
export function registerBackupFleet(program: Command): void {
  const group = program.commands.find((c) => c.name() === 'backup') ?? program.command('backup');
  const policy = group.command('policy').description('backup policies: what the nodes a selector matches back up, where and when');
  policy.addHelpText('after', '\nExamples:\n  $ bulwark backup policy set db --selector role=db --paths /var/lib/app,/etc --schedule "0 * * * *" --repo s3://backups/db --password-file pass --keep-daily 7\n  $ bulwark backup policy ls\n  $ bulwark backup policy run db --node db-1');

  const set = addClientFlags(policy.command('set').argument('<name>', 'policy name, e.g. db-hourly').description('create or replace a policy (every flag; the credential is kept when left out)'))
    .requiredOption('--selector <selector>', 'label selector of the nodes, e.g. "role=db"')
    .requiredOption('--paths <paths>', 'absolute paths to back up, comma-separated (repeatable)', collectList, [])
    .option('-e, --exclude <glob>', 'leave out matching paths (repeatable): *.log, /var/lib/app/cache/**', collect, [])
    .requiredOption('--schedule <cron>', 'when to back up, cron in UTC: "0 * * * *" hourly (a sixth, leading field is seconds)')
    .requiredOption('--repo <location>', 'repository as the nodes reach it: an absolute directory or s3://bucket/prefix')
    .option('--s3-endpoint <url>', 'S3-compatible endpoint, e.g. http://minio:9000')
    .option('--s3-keys-file <file>', 'S3 access keys the nodes use (AWS_ACCESS_KEY_ID=… and AWS_SECRET_ACCESS_KEY=… lines); kept when an update leaves them out')
    .option('--s3-keys-from-env', 'take the S3 access keys from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY of this shell')
    .option('--password-file <file>', 'repository password (first line of the file); needed to create a policy')
    .option('--key-file <file>', 'repository key file instead of a password')
    .option('--keep-last <n>', 'after each backup keep the newest n snapshots of the node')
    .option('--keep-hourly <n>', 'keep one per hour for n hours')
    .option('--keep-daily <n>', 'keep one per day for n days')
    .option('--keep-weekly <n>', 'keep one per ISO week for n weeks')
    .option('--keep-monthly <n>', 'keep one per month for n months')
    .option('--keep-yearly <n>', 'keep one per year for n years')
    .option('--keep-within <duration>', 'keep every snapshot newer than this: 30d, 2w, 1y6m')
    .option('--keep-tag <tag>', 'keep every snapshot with this tag (repeatable)', collect, [])
    .option('--prune', 'remove unused data after retention removed snapshots')
    .option('-t, --tag <tag>', 'tag the snapshots (repeatable)', collect, [])
    .option('--drill-schedule <cron>', 'run recovery drills on the nodes by themselves on this cron (UTC)')
    .option('--drill-sample <n>', `files a drill restores and verifies (default ${BACKUP_LIMITS.defaultDrillSample})`)
    .option('--max-age <duration>', 'recovery point objective: no good backup for longer raises backup.missed (default: twice the schedule interval)')
    .option('--json', 'print the policy as JSON');
  set.addHelpText(
    'after',
    `
The credential is sent to the server, stored encrypted by its keyring, and
delivered only to the matching nodes' agents over their mTLS channel; no API
answer shows it. For an s3:// repository, the access keys of --s3-keys-file
(or --s3-keys-from-env) are stored with it the same way; without either the
agents use their own (environment, instance role). Without --keep-* the
nodes never forget snapshots. The agent creates the repository on its first
backup if it does not exist.

Examples:
  $ bulwark backup policy set db --selector role=db --paths /var/lib/postgresql,/etc/postgresql \\
      --schedule "0 * * * *" --repo /mnt/backups/db --password-file db.pass --keep-hourly 24 --keep-daily 7 --prune
  $ bulwark backup policy set web --selector tier=web --paths /etc --schedule "30 2 * * *" \\
      --repo s3://backups/web --s3-endpoint http://minio:9000 --s3-keys-file web-s3.env --key-file web.key --drill-schedule "0 4 * * 0"`,
  );
  set.action(async (name: string, flags: PolicySetFlags) => {
    const saved = await (await backupsClient(flags)).setPolicy(name, await policyInput(flags));
    if (flags.json) return printJson(saved);
    process.stdout.write(`Policy ${saved.name} saved (version ${saved.version}); matching nodes receive it within a heartbeat.\n`);
  });

  addClientFlags(policy.command('ls').description('list backup policies'))
    .option('--json', 'print JSON')
    .action(async (flags: ClientFlags & { json?: boolean }) => {
      const { policies } = await (await backupsClient(flags)).listPolicies();
      if (flags.json) return printJson(policies);
      if (policies.length === 0) return void process.stdout.write('No backup policies.\n');
      printTable(
        { name: 'NAME', selector: 'SELECTOR', schedule: 'SCHEDULE', repo: 'REPOSITORY', retention: 'RETENTION', maxAge: 'MAX AGE', drill: 'DRILLS' },
        policies.map((p) => ({ name: p.name, selector: p.selector, schedule: p.schedule, repo: p.repo, retention: `${describeRetention(p.retention)}${p.prune ? ' +prune' : ''}`, maxAge: formatDuration(p.maxAgeSeconds * 1000), drill: p.drillSchedule ?? '-' })),
      );
    });

  addClientFlags(policy.command('show').argument('<name>').description('show one policy (never its credential)'))
    .option('--json', 'print JSON')
    .action(async (name: string, flags: ClientFlags & { json?: boolean }) => {
      const p = await (await backupsClient(flags)).getPolicy(name);
      if (flags.json) return printJson(p);
      printPolicy(p);
    });

  addClientFlags(policy.command('rm').argument('<name>').description('remove a policy: its nodes stop running it (their snapshots stay in the repository)')).action(async (name: string, flags: ClientFlags) => {
    await (await backupsClient(flags)).removePolicy(name);
    process.stdout.write(`Policy ${name} removed; its nodes stop at their next heartbeat. The repository and its snapshots are left as they are.\n`);
  });

  const run = addClientFlags(policy.command('run').argument('<name>').description('back up now on the policy\'s nodes (or one), outside the schedule'))
    .option('--node <node>', 'only this node')
    .option('--no-wait', 'return once the runs started')
    .option('--timeout <duration>', 'how long to wait for the runs (default 1h, at most 24h)')
    .option('--json', 'print JSON');
  run.addHelpText('after', '\nExit status 1 when a node failed or could not be reached.\n\nExamples:\n  $ bulwark backup policy run db --node db-1\n  $ bulwark backup policy run web --no-wait');
  run.action(async (name: string, flags: ClientFlags & { node?: string; wait: boolean; timeout?: string; json?: boolean }) => {
    const timeoutSeconds = waitSeconds(flags.timeout);
    const outcome = await (await backupsClient(flags)).runNow(name, { wait: flags.wait, ...(flags.node === undefined ? {} : { node: flags.node }), ...(timeoutSeconds === undefined ? {} : { timeoutSeconds }) });
    if (flags.json) printJson(outcome);
    let failed = 0;
    for (const n of outcome.nodes) {
      const bad = n.error !== null || n.run?.state === 'failed';
      if (bad) failed += 1;
      if (flags.json) continue;
      if (n.error) process.stdout.write(`${clean(n.nodeName)}: ${n.error.code}: ${clean(n.error.message)}\n`);
      else if (!n.run) process.stdout.write(`${clean(n.nodeName)}: started\n`);
      else process.stdout.write(`${clean(n.nodeName)}: ${n.run.state}${n.run.snapshotId ? `, snapshot ${shortId(n.run.snapshotId)}` : ''}${n.run.error ? ` (${n.run.error.code}: ${clean(n.run.error.message)})` : ''}\n`);
    }
    if (failed > 0) process.exitCode = 1;
  });

  const status = addClientFlags(group.command('status').description('per node and policy: the last good backup, its age (the RPO now) against the objective, the last run, the next one'))
    .option('--selector <selector>', 'only nodes matching this selector')
    .option('--policy <name>', 'only this policy')
    .option('--json', 'print JSON');
  status.addHelpText('after', '\nOVERDUE: no good backup within the policy\'s max age (this also raises the event backup.missed).\n\nExamples:\n  $ bulwark backup status\n  $ bulwark backup status --selector role=db --json');
  status.action(async (flags: ClientFlags & { selector?: string; policy?: string; json?: boolean }) => {
    const list = await (await backupsClient(flags)).status({ ...(flags.selector === undefined ? {} : { selector: flags.selector }), ...(flags.policy === undefined ? {} : { policy: flags.policy }) });
    if (flags.json) return printJson(list);
    printStatus(list.rows, list.now);
  });

  const runs = addClientFlags(group.command('runs').description('history of backup runs reported by the agents, newest first'))
    .option('--node <node>', 'only this node')
    .option('--policy <name>', 'only this policy')
    .option('--limit <n>', 'at most this many', '50')
    .option('--json', 'print JSON');
  runs.addHelpText('after', '\nThe last 100 runs of each node and policy are kept.\n\nExamples:\n  $ bulwark backup runs --node db-1\n  $ bulwark backup runs --policy db --json');
  runs.action(async (flags: ClientFlags & { node?: string; policy?: string; limit: string; json?: boolean }) => {
    const limit = wholeNumber('--limit', flags.limit, 1, BACKUP_LIMITS.maxListLimit);
    const list = await (await backupsClient(flags)).runs({ ...(flags.node === undefined ? {} : { node: flags.node }), ...(flags.policy === undefined ? {} : { policy: flags.policy }), ...(limit === undefined ? {} : { limit }) });
    if (flags.json) return printJson(list.runs);
    if (list.runs.length === 0) return void process.stdout.write('No backup runs.\n');
    printRuns(list.runs);
  });

  const drill = addClientFlags(
    program.command('drill').description('recovery drills: restore a random sample of the latest snapshot on a node, verify it, and measure RTO and RPO'),
  )
    .option('--node <node>', 'the node to drill on (required unless listing)')
    .option('--policy <name>', 'the policy (default: the only one covering the node)')
    .option('--sample <n>', 'files to restore and verify (default: the policy\'s, 100)')
    .option('--timeout <duration>', 'how long to wait (default 1h)')
    .option('--json', 'print the drill as JSON');
  drill.addHelpText(
    'after',
    `
The agent restores the sample into a scratch directory in its data directory
(0700, removed afterwards), checks each file's size and content chunk by
chunk against the snapshot, and reports the time the sample took. The RTO it
shows is that time scaled to the snapshot's size: an estimate. Exit status 10
when a file failed verification; the error's own status when the drill could
not run (4: no snapshot yet, 3: wrong credential, …).

Examples:
  $ bulwark drill --node db-1
  $ bulwark drill --node db-1 --sample 500 --json
  $ bulwark drill ls --node db-1`,
  );
  drill.action(async (flags: ClientFlags & { node?: string; policy?: string; sample?: string; timeout?: string; json?: boolean }) => {
    if (flags.node === undefined) throw new BulwarkError('BAD_REQUEST', 'which node? give --node NODE (or list drills with `bulwark drill ls`)');
    const sample = wholeNumber('--sample', flags.sample, 1, BACKUP_LIMITS.maxDrillSample);
    const timeoutSeconds = waitSeconds(flags.timeout);
    const result = await (await backupsClient(flags)).drill({
      node: flags.node,
      ...(flags.policy === undefined ? {} : { policy: flags.policy }),
      ...(sample === undefined ? {} : { sample }),
      ...(timeoutSeconds === undefined ? {} : { timeoutSeconds }),
    });
    if (flags.json) printJson(result);
    else printDrill(result);
    if (result.state === 'failed') {
      if (result.error) throw new BulwarkError(isErrorCode(result.error.code) ? result.error.code : 'INTERNAL', `the drill failed: ${result.error.message}`);
      throw new BulwarkError('REPOSITORY_DAMAGED', `the drill failed: ${result.filesFailed} of ${result.filesSampled} files did not come back as the snapshot recorded them`);
    }
  });
  addClientFlags(drill.command('ls').description('history of drills, newest first'))
    .option('--node <node>', 'only this node')
    .option('--policy <name>', 'only this policy')
    .option('--limit <n>', 'at most this many', '50')
    .option('--json', 'print JSON')
    .action(async (flags: ClientFlags & { node?: string; policy?: string; limit: string; json?: boolean }) => {
      const limit = wholeNumber('--limit', flags.limit, 1, BACKUP_LIMITS.maxListLimit);
      const list = await (await backupsClient(flags)).drills({ ...(flags.node === undefined ? {} : { node: flags.node }), ...(flags.policy === undefined ? {} : { policy: flags.policy }), ...(limit === undefined ? {} : { limit }) });
      if (flags.json) return printJson(list.drills);
      if (list.drills.length === 0) return void process.stdout.write('No drills.\n');
      printDrills(list.drills);
    });
}
