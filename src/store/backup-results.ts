import type { Kysely, Selectable } from 'kysely';
import type { DrillState, RunState, RunStats } from '../protocol/backup.js';
import type { BackupDrillsTable, BackupRunsTable, BackupStatusTable, Database } from './database.js';
import { parseJson } from './json.js';

export interface BackupRunRecord {
  id: string;
  nodeId: string;
  policyId: string;
  policyName: string;
  runId: string;
  trigger: 'schedule' | 'manual';
  state: RunState;
  snapshotId: string | null;
  startedAt: number;
  finishedAt: number;
  stats: RunStats | null;
  forgotten: number | null;
  pruned: boolean | null;
  errorCode: string | null;
  errorMessage: string | null;
  notes: string[];
  receivedAt: number;
}

export interface BackupStatusRecord {
  nodeId: string;
  policyId: string;
  lastGoodAt: number | null;
  lastGoodSnapshot: string | null;
  lastRunAt: number | null;
  lastRunState: RunState | null;
  lastErrorCode: string | null;
  lastErrorMessage: string | null;
  /** When `backup.missed` was raised for the current gap; null once a good backup cleared it. */
  missedAt: number | null;
}

export interface BackupDrillRecord {
  id: string;
  nodeId: string;
  policyId: string;
  policyName: string;
  drillId: string;
  trigger: 'schedule' | 'manual';
  state: DrillState;
  requestedBy: string | null;
  startedAt: number;
  finishedAt: number;
  snapshotId: string | null;
  snapshotTime: number | null;
  filesInSnapshot: number;
  filesSampled: number;
  filesVerified: number;
  filesFailed: number;
  failures: { path: string; reason: string }[];
  sampleBytes: number;
  totalBytes: number;
  restoreMs: number;
  estimatedRtoMs: number | null;
  rpoMs: number | null;
  errorCode: string | null;
  errorMessage: string | null;
  receivedAt: number;
}

export interface HistoryQuery {
  /** Only these nodes (the caller's visible ones); none: nothing. */
  nodeIds: readonly string[];
  policyName?: string;
  limit: number;
}

const IN_CHUNK = 500;

function trigger(value: string): 'schedule' | 'manual' {
  return value === 'manual' ? 'manual' : 'schedule';
}

function toRun(row: Selectable<BackupRunsTable>): BackupRunRecord {
  return {
    id: row.id,
    nodeId: row.node_id,
    policyId: row.policy_id,
    policyName: row.policy_name,
    runId: row.run_id,
    trigger: trigger(row.trigger),
    state: row.state as RunState,
    snapshotId: row.snapshot_id,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    stats: row.stats === null ? null : parseJson<RunStats>(row.stats, 'backup_runs.stats'),
    forgotten: row.forgotten,
    pruned: row.pruned === null ? null : row.pruned === 1,
    errorCode: row.error_code,
    errorMessage: row.error_message,
    notes: parseJson<string[]>(row.notes, 'backup_runs.notes'),
    receivedAt: row.received_at,
  };
}

function toStatus(row: Selectable<BackupStatusTable>): BackupStatusRecord {
  return {
    nodeId: row.node_id,
    policyId: row.policy_id,
    lastGoodAt: row.last_good_at,
    lastGoodSnapshot: row.last_good_snapshot,
    lastRunAt: row.last_run_at,
    lastRunState: row.last_run_state as RunState | null,
    lastErrorCode: row.last_error_code,
    lastErrorMessage: row.last_error_message,
    missedAt: row.missed_at,
  };
}

function toDrill(row: Selectable<BackupDrillsTable>): BackupDrillRecord {
  return {
    id: row.id,
    nodeId: row.node_id,
    policyId: row.policy_id,
    policyName: row.policy_name,
    drillId: row.drill_id,
    trigger: trigger(row.trigger),
    state: row.state === 'succeeded' ? 'succeeded' : 'failed',
    requestedBy: row.requested_by,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    snapshotId: row.snapshot_id,
    snapshotTime: row.snapshot_time,
    filesInSnapshot: row.files_in_snapshot,
    filesSampled: row.files_sampled,
    filesVerified: row.files_verified,
    filesFailed: row.files_failed,
    failures: parseJson<{ path: string; reason: string }[]>(row.failures, 'backup_drills.failures'),
    sampleBytes: row.sample_bytes,
    totalBytes: row.total_bytes,
    restoreMs: row.restore_ms,
    estimatedRtoMs: row.estimated_rto_ms,
    rpoMs: row.rpo_ms,
    errorCode: row.error_code,
    errorMessage: row.error_message,
    receivedAt: row.received_at,
  };
}

/** Stores a run; false when the node already reported a run with this id (nothing is written again). */
export async function insertRun(db: Kysely<Database>, rec: BackupRunRecord): Promise<boolean> {
  const result = await db
    .insertInto('backup_runs')
    .values({
      id: rec.id,
      node_id: rec.nodeId,
      policy_id: rec.policyId,
      policy_name: rec.policyName,
      run_id: rec.runId,
      trigger: rec.trigger,
      state: rec.state,
      snapshot_id: rec.snapshotId,
      started_at: rec.startedAt,
      finished_at: rec.finishedAt,
      stats: rec.stats === null ? null : JSON.stringify(rec.stats),
      forgotten: rec.forgotten,
      pruned: rec.pruned === null ? null : rec.pruned ? 1 : 0,
      error_code: rec.errorCode,
      error_message: rec.errorMessage,
      notes: JSON.stringify(rec.notes),
      received_at: rec.receivedAt,
    })
    .onConflict((oc) => oc.columns(['node_id', 'run_id']).doNothing())
    .executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0n) === 1;
}

/** The two history tables: they share the columns history is kept and read by. */
type HistoryTable = 'backup_runs' | 'backup_drills';

/** Keeps the newest `keep` rows of a node and policy in a history table; returns how many went. */
async function trimHistory(db: Kysely<Database>, table: HistoryTable, nodeId: string, policyId: string, keep: number): Promise<number> {
  // Typed as one of the two: every column used here exists in both.
  const old = await db
    .selectFrom(table as 'backup_runs')
    .select('id')
    .where('node_id', '=', nodeId)
    .where('policy_id', '=', policyId)
    .orderBy('finished_at', 'desc')
    .orderBy('id', 'desc')
    .limit(10_000)
    .offset(keep)
    .execute();
  if (old.length === 0) return 0;
  await db
    .deleteFrom(table as 'backup_runs')
    .where(
      'id',
      'in',
      old.map((r) => r.id),
    )
    .execute();
  return old.length;
}

/** Keeps the newest `keep` runs of a node and policy; returns how many went. */
export function trimRuns(db: Kysely<Database>, nodeId: string, policyId: string, keep: number): Promise<number> {
  return trimHistory(db, 'backup_runs', nodeId, policyId, keep);
}

export async function getRunByRunId(db: Kysely<Database>, nodeId: string, runId: string): Promise<BackupRunRecord | undefined> {
  const row = await db.selectFrom('backup_runs').selectAll().where('node_id', '=', nodeId).where('run_id', '=', runId).executeTakeFirst();
  return row && toRun(row);
}

/** Newest first. */
export async function listRuns(db: Kysely<Database>, query: HistoryQuery): Promise<BackupRunRecord[]> {
  const out: BackupRunRecord[] = [];
  for (let i = 0; i < query.nodeIds.length; i += IN_CHUNK) {
    let q = db
      .selectFrom('backup_runs')
      .selectAll()
      .where('node_id', 'in', query.nodeIds.slice(i, i + IN_CHUNK));
    if (query.policyName !== undefined) q = q.where('policy_name', '=', query.policyName);
    out.push(...(await q.orderBy('finished_at', 'desc').orderBy('id', 'desc').limit(query.limit).execute()).map(toRun));
  }
  return out.sort((a, b) => b.finishedAt - a.finishedAt || (a.id < b.id ? 1 : -1)).slice(0, query.limit);
}

export async function getStatus(db: Kysely<Database>, nodeId: string, policyId: string): Promise<BackupStatusRecord | undefined> {
  const row = await db.selectFrom('backup_status').selectAll().where('node_id', '=', nodeId).where('policy_id', '=', policyId).executeTakeFirst();
  return row && toStatus(row);
}

export async function listStatus(db: Kysely<Database>): Promise<BackupStatusRecord[]> {
  return (await db.selectFrom('backup_status').selectAll().execute()).map(toStatus);
}

export async function putStatus(db: Kysely<Database>, rec: BackupStatusRecord): Promise<void> {
  const values = {
    last_good_at: rec.lastGoodAt,
    last_good_snapshot: rec.lastGoodSnapshot,
    last_run_at: rec.lastRunAt,
    last_run_state: rec.lastRunState,
    last_error_code: rec.lastErrorCode,
    last_error_message: rec.lastErrorMessage,
    missed_at: rec.missedAt,
  };
  await db
    .insertInto('backup_status')
    .values({ node_id: rec.nodeId, policy_id: rec.policyId, ...values })
    .onConflict((oc) => oc.columns(['node_id', 'policy_id']).doUpdateSet(values))
    .execute();
}

/**
 * Records that `backup.missed` was raised for a node and policy, once: false
 * when another replica (or an earlier sweep) already did, or a good backup
 * arrived meanwhile (`lastGoodAt` moved).
 */
export async function markMissed(db: Kysely<Database>, nodeId: string, policyId: string, lastGoodAt: number | null, at: number): Promise<boolean> {
  await db
    .insertInto('backup_status')
    .values({ node_id: nodeId, policy_id: policyId, last_good_at: null, last_good_snapshot: null, last_run_at: null, last_run_state: null, last_error_code: null, last_error_message: null, missed_at: null })
    .onConflict((oc) => oc.columns(['node_id', 'policy_id']).doNothing())
    .execute();
  let q = db.updateTable('backup_status').set({ missed_at: at }).where('node_id', '=', nodeId).where('policy_id', '=', policyId).where('missed_at', 'is', null);
  q = lastGoodAt === null ? q.where('last_good_at', 'is', null) : q.where('last_good_at', '=', lastGoodAt);
  const result = await q.executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** Stores a drill; false when the node already reported one with this id. */
export async function insertDrill(db: Kysely<Database>, rec: BackupDrillRecord): Promise<boolean> {
  const result = await db
    .insertInto('backup_drills')
    .values({
      id: rec.id,
      node_id: rec.nodeId,
      policy_id: rec.policyId,
      policy_name: rec.policyName,
      drill_id: rec.drillId,
      trigger: rec.trigger,
      state: rec.state,
      requested_by: rec.requestedBy,
      started_at: rec.startedAt,
      finished_at: rec.finishedAt,
      snapshot_id: rec.snapshotId,
      snapshot_time: rec.snapshotTime,
      files_in_snapshot: rec.filesInSnapshot,
      files_sampled: rec.filesSampled,
      files_verified: rec.filesVerified,
      files_failed: rec.filesFailed,
      failures: JSON.stringify(rec.failures),
      sample_bytes: rec.sampleBytes,
      total_bytes: rec.totalBytes,
      restore_ms: rec.restoreMs,
      estimated_rto_ms: rec.estimatedRtoMs,
      rpo_ms: rec.rpoMs,
      error_code: rec.errorCode,
      error_message: rec.errorMessage,
      received_at: rec.receivedAt,
    })
    .onConflict((oc) => oc.columns(['node_id', 'drill_id']).doNothing())
    .executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0n) === 1;
}

export function trimDrills(db: Kysely<Database>, nodeId: string, policyId: string, keep: number): Promise<number> {
  return trimHistory(db, 'backup_drills', nodeId, policyId, keep);
}

export async function getDrillByDrillId(db: Kysely<Database>, nodeId: string, drillId: string): Promise<BackupDrillRecord | undefined> {
  const row = await db.selectFrom('backup_drills').selectAll().where('node_id', '=', nodeId).where('drill_id', '=', drillId).executeTakeFirst();
  return row && toDrill(row);
}

/** Newest first. */
export async function listDrills(db: Kysely<Database>, query: HistoryQuery): Promise<BackupDrillRecord[]> {
  const out: BackupDrillRecord[] = [];
  for (let i = 0; i < query.nodeIds.length; i += IN_CHUNK) {
    let q = db
      .selectFrom('backup_drills')
      .selectAll()
      .where('node_id', 'in', query.nodeIds.slice(i, i + IN_CHUNK));
    if (query.policyName !== undefined) q = q.where('policy_name', '=', query.policyName);
    out.push(...(await q.orderBy('finished_at', 'desc').orderBy('id', 'desc').limit(query.limit).execute()).map(toDrill));
  }
  return out.sort((a, b) => b.finishedAt - a.finishedAt || (a.id < b.id ? 1 : -1)).slice(0, query.limit);
}
