import type { Kysely, Selectable } from 'kysely';
import type { Database, EventsTable } from './database.js';
import { parseJson } from './json.js';
import { dialectOf } from './dialects/dialect.js';
import { withTransaction } from './transaction.js';

export interface EventRecord {
  id: number;
  time: number;
  type: string;
  nodeId: string | null;
  details: Record<string, unknown>;
}

// 4 parameters a row: well under SQLite's 32,766 and PostgreSQL's 65,535.
const INSERT_CHUNK = 1000;

function toRecord(row: Selectable<EventsTable>): EventRecord {
  return { id: row.id, time: row.time, type: row.type, nodeId: row.node_id, details: parseJson<Record<string, unknown>>(row.details, 'events.details') };
}

function toRow(e: Omit<EventRecord, 'id'>) {
  return { time: e.time, type: e.type, node_id: e.nodeId, details: JSON.stringify(e.details) };
}

/** Appends one event and returns its id. */
export async function appendEvent(db: Kysely<Database>, e: Omit<EventRecord, 'id'>): Promise<number> {
  return withTransaction(db, async (trx) => {
    await dialectOf(trx).serialiseEventAppends(trx);
    const row = await trx.insertInto('events').values(toRow(e)).returning('id').executeTakeFirstOrThrow();
    return row.id;
  });
}

/** Appends events in order, atomically, and returns their ids, ascending. */
export async function appendEvents(db: Kysely<Database>, list: readonly Omit<EventRecord, 'id'>[]): Promise<number[]> {
  return withTransaction(db, async (trx) => {
    await dialectOf(trx).serialiseEventAppends(trx);
    const ids: number[] = [];
    for (let i = 0; i < list.length; i += INSERT_CHUNK) {
      const rows = await trx
        .insertInto('events')
        .values(list.slice(i, i + INSERT_CHUNK).map(toRow))
        .returning('id')
        .execute();
      ids.push(...rows.map((r) => r.id).sort((a, b) => a - b));
    }
    return ids;
  });
}

/**
 * Events ascending by id. With `afterId`, only later ones: a client resumes a
 * stream from the last id it saw.
 * Appends commit in id order (see `serialiseEventAppends`), so resuming after
 * an id never skips an event.
 */
export async function listEvents(db: Kysely<Database>, opts: { afterId?: number; nodeId?: string; type?: string; limit: number }): Promise<EventRecord[]> {
  let query = db.selectFrom('events').selectAll();
  if (opts.afterId !== undefined) query = query.where('id', '>', opts.afterId);
  if (opts.nodeId !== undefined) query = query.where('node_id', '=', opts.nodeId);
  if (opts.type !== undefined) query = query.where('type', '=', opts.type);
  const rows = await query.orderBy('id').limit(opts.limit).execute();
  return rows.map(toRecord);
}

/** The highest event id, 0 when there are none. */
export async function lastEventId(db: Kysely<Database>): Promise<number> {
  const row = await db.selectFrom('events').select((eb) => eb.fn.max('id').as('id')).executeTakeFirst();
  return Number(row?.id ?? 0);
}
