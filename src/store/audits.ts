import type { Kysely } from 'kysely';
import type { AuditError, AuditSummary, Finding, FindingKind, FindingStatus, Severity } from '../checks/model.js';
import type { AuditSpec, Drift } from '../protocol/checks.js';
import type { Database } from './database.js';
import { parseJson } from './json.js';
import { withTransaction } from './transaction.js';

export type RunStatus = 'running' | 'done';
export type NodeResultStatus = 'pending' | 'done' | 'failed';

export interface AuditRunRecord {
  id: string;
  trigger: 'manual' | 'schedule';
  scheduleId: string | null;
  requestedBy: string;
  selector: string;
  spec: AuditSpec;
  status: RunStatus;
  nodeCount: number;
  createdAt: number;
  deadlineAt: number;
  finishedAt: number | null;
}

export interface NodeResultRecord {
  runId: string;
  nodeId: string;
  nodeName: string;
  requestId: string;
  status: NodeResultStatus;
  dispatchedAt: number | null;
  startedAt: number | null;
  finishedAt: number | null;
  summary: AuditSummary | null;
  errors: AuditError[];
  failure: { code: string; message: string } | null;
  drift: Drift | null;
}

export interface StoredFinding extends Finding {
  runId: string;
  nodeId: string;
}

type RunRow = Database['audit_runs'];
type ResultRow = Database['audit_node_results'];
type FindingRow = Database['audit_findings'];

/** Rows per INSERT: 12 columns each stays far below SQLite's and PostgreSQL's bound-parameter limits. */
const INSERT_CHUNK = 1000;
/** Node ids per `IN (…)` list: a fleet of 50,000 nodes would pass both databases' parameter limits at once. */
const ID_CHUNK = 5000;

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function toRun(row: RunRow): AuditRunRecord {
  return {
    id: row.id,
    trigger: row.trigger === 'schedule' ? 'schedule' : 'manual',
    scheduleId: row.schedule_id,
    requestedBy: row.requested_by,
    selector: row.selector,
    spec: parseJson<AuditSpec>(row.spec, 'audit_runs.spec'),
    status: row.status as RunStatus,
    nodeCount: row.node_count,
    createdAt: row.created_at,
    deadlineAt: row.deadline_at,
    finishedAt: row.finished_at,
  };
}

function toResult(row: ResultRow): NodeResultRecord {
  const summary: AuditSummary | null =
    row.score === null
      ? null
      : {
          passed: row.passed,
          failed: row.failed,
          notApplicable: row.not_applicable,
          score: Number(row.score),
          failedBySeverity: parseJson<Record<Severity, number>>(row.failed_by_severity, 'audit_node_results.failed_by_severity'),
        };
  return {
    runId: row.run_id,
    nodeId: row.node_id,
    nodeName: row.node_name,
    requestId: row.request_id,
    status: row.status as NodeResultStatus,
    dispatchedAt: row.dispatched_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    summary,
    errors: parseJson<AuditError[]>(row.errors, 'audit_node_results.errors'),
    failure: row.failure_code === null ? null : { code: row.failure_code, message: row.failure_message ?? '' },
    drift: row.drift === null ? null : parseJson<Drift>(row.drift, 'audit_node_results.drift'),
  };
}

interface FindingExtra {
  rationale?: string;
  remediation?: string;
  references?: string[];
  compliance?: Record<string, string[]>;
  details?: Finding['details'];
}

function toFinding(row: FindingRow): StoredFinding {
  const extra = parseJson<FindingExtra>(row.extra, 'audit_findings.extra');
  const finding: StoredFinding = {
    runId: row.run_id,
    nodeId: row.node_id,
    kind: row.kind as FindingKind,
    key: row.key,
    ruleId: row.rule_id,
    source: row.source,
    title: row.title,
    severity: row.severity as Severity,
    status: row.status as FindingStatus,
    evidence: row.evidence,
    ...extra,
  };
  if (row.location !== null) finding.location = row.location;
  return finding;
}

function findingRow(runId: string, nodeId: string, f: Finding): FindingRow {
  const extra: FindingExtra = {};
  if (f.rationale !== undefined) extra.rationale = f.rationale;
  if (f.remediation !== undefined) extra.remediation = f.remediation;
  if (f.references !== undefined) extra.references = f.references;
  if (f.compliance !== undefined) extra.compliance = f.compliance;
  if (f.details !== undefined) extra.details = f.details;
  return {
    run_id: runId,
    node_id: nodeId,
    key: f.key,
    kind: f.kind,
    rule_id: f.ruleId,
    source: f.source,
    title: f.title,
    severity: f.severity,
    status: f.status,
    evidence: f.evidence,
    location: f.location ?? null,
    extra: JSON.stringify(extra),
  };
}

export interface NewRun {
  id: string;
  trigger: 'manual' | 'schedule';
  scheduleId: string | null;
  requestedBy: string;
  selector: string;
  spec: AuditSpec;
  createdAt: number;
  deadlineAt: number;
  nodes: { id: string; name: string; requestId: string }[];
}

/** Records a run and one pending result per target node, in one transaction. */
export async function insertRun(db: Kysely<Database>, run: NewRun): Promise<void> {
  await withTransaction(db, async (trx) => {
    await trx
      .insertInto('audit_runs')
      .values({
        id: run.id,
        trigger: run.trigger,
        schedule_id: run.scheduleId,
        requested_by: run.requestedBy,
        selector: run.selector,
        spec: JSON.stringify(run.spec),
        status: run.nodes.length === 0 ? 'done' : 'running',
        node_count: run.nodes.length,
        created_at: run.createdAt,
        deadline_at: run.deadlineAt,
        finished_at: run.nodes.length === 0 ? run.createdAt : null,
      })
      .execute();
    for (let i = 0; i < run.nodes.length; i += INSERT_CHUNK) {
      await trx
        .insertInto('audit_node_results')
        .values(
          run.nodes.slice(i, i + INSERT_CHUNK).map((n) => ({
            run_id: run.id,
            node_id: n.id,
            node_name: n.name,
            request_id: n.requestId,
            status: 'pending',
            dispatched_at: null,
            started_at: null,
            finished_at: null,
            score: null,
            passed: 0,
            failed: 0,
            not_applicable: 0,
            failed_by_severity: '{}',
            errors: '[]',
            failure_code: null,
            failure_message: null,
            drift: null,
          })),
        )
        .execute();
    }
  });
}

export async function getRun(db: Kysely<Database>, id: string): Promise<AuditRunRecord | undefined> {
  const row = await db.selectFrom('audit_runs').selectAll().where('id', '=', id).executeTakeFirst();
  return row ? toRun(row) : undefined;
}

export async function listRuns(db: Kysely<Database>, opts: { limit: number; before?: number }): Promise<AuditRunRecord[]> {
  let q = db.selectFrom('audit_runs').selectAll().orderBy('created_at', 'desc').orderBy('id', 'desc').limit(opts.limit);
  if (opts.before !== undefined) q = q.where('created_at', '<', opts.before);
  return (await q.execute()).map(toRun);
}

export async function listNodeResults(db: Kysely<Database>, runId: string): Promise<NodeResultRecord[]> {
  const rows = await db.selectFrom('audit_node_results').selectAll().where('run_id', '=', runId).orderBy('node_name').orderBy('node_id').execute();
  return rows.map(toResult);
}

/** The pending results of a run; with `undelivered`, only those not sent to their node yet. */
export async function pendingResults(db: Kysely<Database>, runId: string, opts: { undelivered?: boolean } = {}): Promise<NodeResultRecord[]> {
  let q = db.selectFrom('audit_node_results').selectAll().where('run_id', '=', runId).where('status', '=', 'pending');
  // The sweep asks every few seconds for every running run: a large run's delivered results stay in the database.
  if (opts.undelivered) q = q.where('dispatched_at', 'is', null);
  return (await q.execute()).map(toResult);
}

export async function getResultByRequest(db: Kysely<Database>, requestId: string): Promise<NodeResultRecord | undefined> {
  const row = await db.selectFrom('audit_node_results').selectAll().where('request_id', '=', requestId).executeTakeFirst();
  return row ? toResult(row) : undefined;
}

export async function markDispatched(db: Kysely<Database>, requestId: string, at: number): Promise<void> {
  await db.updateTable('audit_node_results').set({ dispatched_at: at }).where('request_id', '=', requestId).where('status', '=', 'pending').execute();
}

/**
 * Forgets that a node's pending requests were sent: its channel closed, so they
 * may never have arrived. The sweep offers them again when it reconnects (the
 * agent ignores a request it is already running), and the deadline fails them
 * NOT_CONNECTED if it does not.
 */
export async function markUndelivered(db: Kysely<Database>, which: { nodeId: string } | { requestId: string }): Promise<void> {
  const q = db.updateTable('audit_node_results').set({ dispatched_at: null }).where('status', '=', 'pending').where('dispatched_at', 'is not', null);
  await ('nodeId' in which ? q.where('node_id', '=', which.nodeId) : q.where('request_id', '=', which.requestId)).execute();
}

/** A node's latest finished result before this one: the baseline for drift. */
export async function latestResultOf(db: Kysely<Database>, nodeId: string): Promise<{ runId: string; findings: Map<string, FindingStatus> } | undefined> {
  const latest = await db.selectFrom('audit_latest').select(['run_id']).where('node_id', '=', nodeId).executeTakeFirst();
  if (!latest) return undefined;
  const rows = await db.selectFrom('audit_findings').select(['key', 'status']).where('run_id', '=', latest.run_id).where('node_id', '=', nodeId).execute();
  return { runId: latest.run_id, findings: new Map(rows.map((r) => [r.key, r.status as FindingStatus])) };
}

export interface CompletedResult {
  requestId: string;
  startedAt: number;
  finishedAt: number;
  summary: AuditSummary;
  errors: AuditError[];
  findings: Finding[];
  drift: Drift | null;
}

/**
 * Stores a node's answer. Only a pending result takes it (a late answer after the
 * deadline, or a replay, is refused: returns undefined). Makes it the node's
 * latest, and closes the run when it was the last one pending.
 */
export async function completeResult(db: Kysely<Database>, done: CompletedResult, at: number): Promise<{ result: NodeResultRecord; runDone: boolean } | undefined> {
  return withTransaction(db, async (trx) => {
    const updated = await trx
      .updateTable('audit_node_results')
      .set({
        status: 'done',
        started_at: done.startedAt,
        finished_at: done.finishedAt,
        score: done.summary.score,
        passed: done.summary.passed,
        failed: done.summary.failed,
        not_applicable: done.summary.notApplicable,
        failed_by_severity: JSON.stringify(done.summary.failedBySeverity),
        errors: JSON.stringify(done.errors),
        drift: done.drift === null ? null : JSON.stringify(done.drift),
      })
      .where('request_id', '=', done.requestId)
      .where('status', '=', 'pending')
      .returningAll()
      .executeTakeFirst();
    if (!updated) return undefined;
    const rows = dedupeByKey(done.findings).map((f) => findingRow(updated.run_id, updated.node_id, f));
    for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
      await trx.insertInto('audit_findings').values(rows.slice(i, i + INSERT_CHUNK)).execute();
    }
    await trx
      .insertInto('audit_latest')
      .values({ node_id: updated.node_id, run_id: updated.run_id, finished_at: done.finishedAt })
      .onConflict((oc) => oc.column('node_id').doUpdateSet({ run_id: updated.run_id, finished_at: done.finishedAt }))
      .execute();
    const runDone = await closeRunIfSettled(trx, updated.run_id, at);
    return { result: toResult(updated), runDone };
  });
}

/** Marks a pending result failed (agent refused, not connected, timed out). */
export async function failResult(db: Kysely<Database>, requestId: string, failure: { code: string; message: string }, at: number): Promise<{ result: NodeResultRecord; runDone: boolean } | undefined> {
  return withTransaction(db, async (trx) => {
    const updated = await trx
      .updateTable('audit_node_results')
      .set({ status: 'failed', finished_at: at, failure_code: failure.code, failure_message: failure.message.slice(0, 1024) })
      .where('request_id', '=', requestId)
      .where('status', '=', 'pending')
      .returningAll()
      .executeTakeFirst();
    if (!updated) return undefined;
    return { result: toResult(updated), runDone: await closeRunIfSettled(trx, updated.run_id, at) };
  });
}

async function closeRunIfSettled(trx: Kysely<Database>, runId: string, at: number): Promise<boolean> {
  const pending = await trx.selectFrom('audit_node_results').select((eb) => eb.fn.countAll().as('n')).where('run_id', '=', runId).where('status', '=', 'pending').executeTakeFirstOrThrow();
  if (Number(pending.n) > 0) return false;
  const closed = await trx.updateTable('audit_runs').set({ status: 'done', finished_at: at }).where('id', '=', runId).where('status', '=', 'running').executeTakeFirst();
  return Number(closed.numUpdatedRows) > 0;
}

/** Running runs whose deadline has passed, for the sweep that fails what never answered. */
export async function overdueRuns(db: Kysely<Database>, now: number): Promise<AuditRunRecord[]> {
  const rows = await db.selectFrom('audit_runs').selectAll().where('status', '=', 'running').where('deadline_at', '<=', now).limit(100).execute();
  return rows.map(toRun);
}

/** Runs still in progress whose results some replica may have to dispatch. */
export async function runningRuns(db: Kysely<Database>): Promise<AuditRunRecord[]> {
  const rows = await db.selectFrom('audit_runs').selectAll().where('status', '=', 'running').orderBy('created_at').limit(100).execute();
  return rows.map(toRun);
}

function dedupeByKey(findings: readonly Finding[]): Finding[] {
  const byKey = new Map<string, Finding>();
  for (const f of findings) if (!byKey.has(f.key)) byKey.set(f.key, f);
  return [...byKey.values()];
}

export interface FindingQuery {
  /** Only these nodes (the caller's scope, and/or `--node`). */
  nodeIds?: readonly string[];
  runId?: string;
  severities?: readonly Severity[];
  statuses?: readonly FindingStatus[];
  kinds?: readonly FindingKind[];
  limit: number;
}

/** Findings of each node's latest result, or of one run, ordered by node and key. */
export async function listFindings(db: Kysely<Database>, query: FindingQuery): Promise<StoredFinding[]> {
  if (query.nodeIds === undefined || query.nodeIds.length <= ID_CHUNK) return listFindingsOnce(db, query);
  const out: StoredFinding[] = [];
  for (const ids of chunks([...query.nodeIds].sort(), ID_CHUNK)) {
    if (out.length >= query.limit) break;
    out.push(...(await listFindingsOnce(db, { ...query, nodeIds: ids, limit: query.limit - out.length })));
  }
  return out;
}

async function listFindingsOnce(db: Kysely<Database>, query: FindingQuery): Promise<StoredFinding[]> {
  let q = db.selectFrom('audit_findings').selectAll('audit_findings');
  if (query.runId !== undefined) {
    q = q.where('audit_findings.run_id', '=', query.runId);
  } else {
    q = q.innerJoin('audit_latest', (j) => j.onRef('audit_latest.node_id', '=', 'audit_findings.node_id').onRef('audit_latest.run_id', '=', 'audit_findings.run_id'));
  }
  if (query.nodeIds !== undefined) {
    if (query.nodeIds.length === 0) return [];
    q = q.where('audit_findings.node_id', 'in', [...query.nodeIds]);
  }
  if (query.severities?.length) q = q.where('audit_findings.severity', 'in', [...query.severities]);
  if (query.statuses?.length) q = q.where('audit_findings.status', 'in', [...query.statuses]);
  if (query.kinds?.length) q = q.where('audit_findings.kind', 'in', [...query.kinds]);
  const rows = await q.orderBy('audit_findings.node_id').orderBy('audit_findings.key').limit(query.limit).execute();
  return rows.map(toFinding);
}

/** The latest result of every node (or of the given ones). */
export async function latestResults(db: Kysely<Database>, nodeIds?: readonly string[]): Promise<NodeResultRecord[]> {
  if (nodeIds !== undefined && nodeIds.length > ID_CHUNK) {
    const out: NodeResultRecord[] = [];
    for (const ids of chunks(nodeIds, ID_CHUNK)) out.push(...(await latestResults(db, ids)));
    return out.sort((a, b) => a.nodeName.localeCompare(b.nodeName));
  }
  if (nodeIds !== undefined && nodeIds.length === 0) return [];
  let q = db
    .selectFrom('audit_node_results')
    .innerJoin('audit_latest', (j) => j.onRef('audit_latest.node_id', '=', 'audit_node_results.node_id').onRef('audit_latest.run_id', '=', 'audit_node_results.run_id'))
    .selectAll('audit_node_results');
  if (nodeIds !== undefined) q = q.where('audit_node_results.node_id', 'in', [...nodeIds]);
  const rows = await q.orderBy('audit_node_results.node_name').execute();
  return rows.map(toResult);
}

/** A node's results, newest first: its score history. */
export async function nodeHistory(db: Kysely<Database>, nodeId: string, limit: number): Promise<NodeResultRecord[]> {
  const rows = await db.selectFrom('audit_node_results').selectAll().where('node_id', '=', nodeId).where('status', '=', 'done').orderBy('finished_at', 'desc').limit(limit).execute();
  return rows.map(toResult);
}

/**
 * Keeps the findings of a node's newest `keep` results and drops older ones; the
 * results themselves (scores, counts, drift) stay as history, up to
 * `keepResults` of them.
 */
export async function pruneFindings(db: Kysely<Database>, nodeId: string, keep: number, keepResults: number): Promise<void> {
  const expired = await runsBeyond(db, nodeId, keepResults, true);
  if (expired.length > 0) {
    await db.deleteFrom('audit_findings').where('node_id', '=', nodeId).where('run_id', 'in', expired).execute();
    await db.deleteFrom('audit_node_results').where('node_id', '=', nodeId).where('run_id', 'in', expired).execute();
  }
  const old = await runsBeyond(db, nodeId, keep, false);
  if (old.length > 0) await db.deleteFrom('audit_findings').where('node_id', '=', nodeId).where('run_id', 'in', old).execute();
}

/** Runs of a node's results past its newest `keep` (finished ones, or only successful ones), at most 1,000 a call. */
async function runsBeyond(db: Kysely<Database>, nodeId: string, keep: number, anyFinished: boolean): Promise<string[]> {
  const rows = await db
    .selectFrom('audit_node_results')
    .select('run_id')
    .where('node_id', '=', nodeId)
    .where('status', anyFinished ? '!=' : '=', anyFinished ? 'pending' : 'done')
    .orderBy('finished_at', 'desc')
    .offset(keep)
    .limit(1000)
    .execute();
  return rows.map((r) => r.run_id);
}

/** How many findings a report over these nodes' latest results (or one run) would hold. */
export async function countFindings(db: Kysely<Database>, nodeIds: readonly string[], runId?: string): Promise<number> {
  let total = 0;
  for (const ids of chunks(nodeIds, ID_CHUNK)) {
    let q = db.selectFrom('audit_findings').select((eb) => eb.fn.countAll().as('n')).where('audit_findings.node_id', 'in', ids);
    if (runId !== undefined) q = q.where('audit_findings.run_id', '=', runId);
    else q = q.innerJoin('audit_latest', (j) => j.onRef('audit_latest.node_id', '=', 'audit_findings.node_id').onRef('audit_latest.run_id', '=', 'audit_findings.run_id'));
    total += Number((await q.executeTakeFirstOrThrow()).n);
  }
  return total;
}

/** The ids of the nodes a run targeted. */
export async function runNodeIds(db: Kysely<Database>, runId: string): Promise<string[]> {
  return (await db.selectFrom('audit_node_results').select('node_id').where('run_id', '=', runId).execute()).map((r) => r.node_id);
}

/** The target node ids of each of the runs. */
export async function runTargets(db: Kysely<Database>, runIds: readonly string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const ids of chunks(runIds, ID_CHUNK)) {
    if (ids.length === 0) continue;
    for (const row of await db.selectFrom('audit_node_results').select(['run_id', 'node_id']).where('run_id', 'in', ids).execute()) {
      const list = out.get(row.run_id) ?? [];
      list.push(row.node_id);
      out.set(row.run_id, list);
    }
  }
  return out;
}
