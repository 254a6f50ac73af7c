import { once } from 'node:events';
import type { Command } from 'commander';
import { parseDuration } from '../../core/duration.js';
import { BulwarkError } from '../../core/errors.js';
import { AuditClient } from '../../client/audit-client.js';
import { clientFrom, defaultDataDir, type ClientFlags } from '../context.js';
import { isoTime, printJson, printTable } from '../output.js';
import { addClientFlags } from './token.js';

/**
 * A point in time from `--since`/`--until`: a duration back from now (`90m`,
 * `1h`, `7d`) or an ISO 8601 time (`2026-01-31`, `2026-01-31T12:00:00Z`).
 */
export function parseTimeFlag(flag: string, text: string, now: number): number {
  if (/^\s*\d+(ms|s|m|h|d)/.test(text)) return now - parseDuration(text);
  const at = /^\d{4}-\d{2}-\d{2}/.test(text.trim()) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(at)) throw new BulwarkError('BAD_REQUEST', `${flag} "${text}" is neither a duration (e.g. 1h, 7d) nor an ISO time (e.g. 2026-01-31T12:00:00Z)`);
  return at;
}

async function auditClientFrom(flags: ClientFlags): Promise<AuditClient> {
  const client = await clientFrom(flags);
  // The same server, token and CA the other commands resolve; ApiClient keeps them private.
  return new AuditClient(client.options);
}

async function writeLine(line: string): Promise<void> {
  // Respect back-pressure: an export piped into a slow consumer must not buffer the whole log.
  if (!process.stdout.write(`${line}\n`)) await once(process.stdout, 'drain');
}

export function registerAuditlog(program: Command): void {
  const group = program.command('auditlog').description('the tamper-evident audit log: every action and every denial');

  const ls = addClientFlags(group.command('ls').description('list audit entries, newest last'))
    .option('--actor <actor>', 'only entries of this actor, e.g. user:alice')
    .option('--action <action>', 'only entries of this action, e.g. nodes.delete')
    .option('--since <when>', 'only entries from this time on: a duration back from now (1h, 7d) or an ISO time')
    .option('--until <when>', 'only entries before this time: a duration back from now or an ISO time')
    .option('--limit <n>', 'how many of the newest matching entries to show', '50')
    .option('--json', 'print JSON');
  ls.addHelpText('after', '\nExamples:\n  $ bulwark auditlog ls --since 1h\n  $ bulwark auditlog ls --actor user:alice --action nodes.delete --json');
  ls.action(async (flags: ClientFlags & { actor?: string; action?: string; since?: string; until?: string; limit: string; json?: boolean }) => {
    const limit = Number(flags.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new BulwarkError('BAD_REQUEST', `--limit must be a whole number from 1 to 1000, not "${flags.limit}"`);
    const now = Date.now();
    const entries = await (await auditClientFrom(flags)).list({
      limit,
      ...(flags.actor ? { actor: flags.actor } : {}),
      ...(flags.action ? { action: flags.action } : {}),
      ...(flags.since ? { since: parseTimeFlag('--since', flags.since, now) } : {}),
      ...(flags.until ? { until: parseTimeFlag('--until', flags.until, now) } : {}),
    });
    if (flags.json) return printJson(entries);
    printTable(
      { seq: 'SEQ', time: 'TIME', actor: 'ACTOR', action: 'ACTION', resource: 'RESOURCE', decision: 'DECISION', outcome: 'OUTCOME', source: 'SOURCE' },
      entries.map((e) => ({
        seq: String(e.seq),
        time: isoTime(e.time),
        actor: e.actor,
        action: e.action,
        resource: e.resource,
        decision: e.decision,
        outcome: e.outcome,
        source: e.source,
      })),
    );
  });

  const verify = addClientFlags(group.command('verify').description('check the hash chain and signed checkpoints; exits non-zero naming the first bad entry'))
    .option('--offline', 'read the database directly (on the server machine; works when the server is down or refuses requests)')
    .option('--db <url>', 'with --offline: postgres://… (default: SQLite in the data directory)')
    .option('--json', 'print JSON');
  verify.addHelpText('after', '\nExamples:\n  $ bulwark auditlog verify\n  $ bulwark auditlog verify --json\n  $ bulwark auditlog verify --offline --data-dir /var/lib/bulwark');
  verify.action(async (flags: ClientFlags & { json?: boolean; offline?: boolean; db?: string }) => {
    const result = flags.offline
      ? await (await import('../actions/audit-offline.js')).verifyAuditOffline({ dataDir: flags.dataDir ?? defaultDataDir(), ...(flags.db ? { db: flags.db } : {}) })
      : await (await auditClientFrom(flags)).verify();
    if (flags.json) printJson(result);
    if (!result.ok) {
      const { seq, kind, message } = result.firstBad;
      throw new BulwarkError('AUDIT_TAMPERED', `audit log verification FAILED: first bad entry seq ${seq} (${kind}): ${message}`);
    }
    if (!flags.json) {
      process.stdout.write(`Audit log intact: ${result.entries} entries, ${result.checkpoints} signed checkpoints, last seq ${result.lastSeq} (audit key ${result.keyId})\n`);
    }
  });

  const exp = addClientFlags(group.command('export').description('write every audit entry to stdout, oldest first')).option(
    '--format <format>',
    'jsonl (one JSON object a line, with hashes) or cef (ArcSight Common Event Format)',
    'jsonl',
  );
  exp.addHelpText('after', '\nExamples:\n  $ bulwark auditlog export > audit.jsonl\n  $ bulwark auditlog export --format cef | logger -n siem.example -P 514');
  exp.action(async (flags: ClientFlags & { format: string }) => {
    if (flags.format !== 'jsonl' && flags.format !== 'cef') throw new BulwarkError('BAD_REQUEST', `--format must be jsonl or cef, not "${flags.format}"`);
    for await (const line of (await auditClientFrom(flags)).export(flags.format)) await writeLine(line);
  });
}
