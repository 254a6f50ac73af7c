import type { Kysely } from 'kysely';
import type { AuditSpec } from '../protocol/checks.js';
import type { Database } from './database.js';
import { parseJson } from './json.js';

export interface AuditScheduleRecord {
  id: string;
  name: string;
  cron: string;
  selector: string;
  spec: AuditSpec;
  enabled: boolean;
  createdBy: string;
  createdAt: number;
  updatedAt: number;
  nextRunAt: number;
  lastRunAt: number | null;
  lastRunId: string | null;
}

function toSchedule(row: Database['audit_schedules']): AuditScheduleRecord {
  return {
    id: row.id,
    name: row.name,
    cron: row.cron,
    selector: row.selector,
    spec: parseJson<AuditSpec>(row.spec, 'audit_schedules.spec'),
    enabled: row.enabled === 1,
    createdBy: row.created_by,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    nextRunAt: row.next_run_at,
    lastRunAt: row.last_run_at,
    lastRunId: row.last_run_id,
  };
}

export interface ScheduleInput {
  id: string;
  name: string;
  cron: string;
  selector: string;
  spec: AuditSpec;
  enabled: boolean;
  createdBy: string;
  nextRunAt: number;
}

/** Creates a schedule, or replaces the one of the same name (keeping its id and history). */
export async function upsertSchedule(db: Kysely<Database>, input: ScheduleInput, at: number): Promise<AuditScheduleRecord> {
  const values = {
    cron: input.cron,
    selector: input.selector,
    spec: JSON.stringify(input.spec),
    enabled: input.enabled ? 1 : 0,
    updated_at: at,
    next_run_at: input.nextRunAt,
  };
  await db
    .insertInto('audit_schedules')
    .values({ id: input.id, name: input.name, created_by: input.createdBy, created_at: at, last_run_at: null, last_run_id: null, ...values })
    .onConflict((oc) => oc.column('name').doUpdateSet(values))
    .execute();
  const row = await db.selectFrom('audit_schedules').selectAll().where('name', '=', input.name).executeTakeFirstOrThrow();
  return toSchedule(row);
}

export async function listSchedules(db: Kysely<Database>): Promise<AuditScheduleRecord[]> {
  return (await db.selectFrom('audit_schedules').selectAll().orderBy('name').execute()).map(toSchedule);
}

export async function getScheduleByName(db: Kysely<Database>, name: string): Promise<AuditScheduleRecord | undefined> {
  const row = await db.selectFrom('audit_schedules').selectAll().where('name', '=', name).executeTakeFirst();
  return row ? toSchedule(row) : undefined;
}

export async function deleteSchedule(db: Kysely<Database>, name: string): Promise<boolean> {
  const result = await db.deleteFrom('audit_schedules').where('name', '=', name).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

export async function dueSchedules(db: Kysely<Database>, now: number): Promise<AuditScheduleRecord[]> {
  const rows = await db.selectFrom('audit_schedules').selectAll().where('enabled', '=', 1).where('next_run_at', '<=', now).orderBy('next_run_at').limit(100).execute();
  return rows.map(toSchedule);
}

/**
 * Moves a due schedule to its next time, only if nobody else did first: of
 * several replicas seeing the same due schedule, exactly one wins and runs it.
 */
export async function claimSchedule(db: Kysely<Database>, id: string, expectedNextRunAt: number, nextRunAt: number, at: number): Promise<boolean> {
  const result = await db
    .updateTable('audit_schedules')
    .set({ next_run_at: nextRunAt, last_run_at: at })
    .where('id', '=', id)
    .where('next_run_at', '=', expectedNextRunAt)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

export async function setScheduleLastRun(db: Kysely<Database>, id: string, runId: string): Promise<void> {
  await db.updateTable('audit_schedules').set({ last_run_id: runId }).where('id', '=', id).execute();
}
