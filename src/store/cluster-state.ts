import type { Kysely } from 'kysely';
import type { Database } from './database.js';

export async function getClusterState(db: Kysely<Database>, key: string): Promise<string | undefined> {
  const row = await db.selectFrom('cluster_state').select('value').where('key', '=', key).executeTakeFirst();
  return row?.value;
}

export async function setClusterState(db: Kysely<Database>, key: string, value: string, at: number): Promise<void> {
  await db
    .insertInto('cluster_state')
    .values({ key, value, updated_at: at })
    .onConflict((oc) => oc.column('key').doUpdateSet({ value, updated_at: at }))
    .execute();
}

/**
 * Stores `value` unless the key already has one; true iff this call stored it.
 * Two replicas initialising at once both try; the loser reads the winner's value.
 */
export async function setClusterStateIfAbsent(db: Kysely<Database>, key: string, value: string, at: number): Promise<boolean> {
  const rows = await db
    .insertInto('cluster_state')
    .values({ key, value, updated_at: at })
    .onConflict((oc) => oc.column('key').doNothing())
    .returning('key')
    .execute();
  return rows.length > 0;
}
