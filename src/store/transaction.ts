import type { Kysely } from 'kysely';
import type { Database } from './database.js';

/**
 * Runs `fn` in a transaction, or inside the caller's if `db` already is one, so
 * repository functions compose into a larger unit of work.
 */
export async function withTransaction<T>(db: Kysely<Database>, fn: (trx: Kysely<Database>) => Promise<T>): Promise<T> {
  if (db.isTransaction) return fn(db);
  return db.transaction().execute(fn);
}
