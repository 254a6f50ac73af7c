import type { Kysely } from 'kysely';
import type { Database } from './database.js';
import { withTransaction } from './transaction.js';

export type KekState = 'active' | 'decrypt-only' | 'retired';

export interface KekRecord {
  version: number;
  /** The key sealed under the master key; empty once retired. */
  sealed: string;
  state: KekState;
  /** Encryptions reserved under this version (an upper bound of those made). */
  encryptions: number;
  createdAt: number;
  retiredAt: number | null;
}

function toRecord(row: Database['keyring_keys']): KekRecord {
  return {
    version: row.version,
    sealed: row.sealed,
    state: row.state as KekState,
    encryptions: row.encryptions,
    createdAt: row.created_at,
    retiredAt: row.retired_at,
  };
}

export async function listKeks(db: Kysely<Database>): Promise<KekRecord[]> {
  const rows = await db.selectFrom('keyring_keys').selectAll().orderBy('version').execute();
  return rows.map(toRecord);
}

/**
 * Makes `version` the active key and every older active one decrypt-only, in one
 * transaction. False when that version exists already (another replica rotated
 * at the same moment): the caller reloads and uses the winner's.
 */
export async function addActiveKek(db: Kysely<Database>, kek: { version: number; sealed: string }, at: number): Promise<boolean> {
  return withTransaction(db, async (tx) => {
    const inserted = await tx
      .insertInto('keyring_keys')
      .values({ version: kek.version, sealed: kek.sealed, state: 'active', encryptions: 0, created_at: at, retired_at: null })
      .onConflict((oc) => oc.column('version').doNothing())
      .returning('version')
      .execute();
    if (inserted.length === 0) return false;
    await tx.updateTable('keyring_keys').set({ state: 'decrypt-only' }).where('state', '=', 'active').where('version', '<', kek.version).execute();
    return true;
  });
}

/**
 * Reserves `count` encryptions under an active version. Returns the total
 * reserved afterwards, or undefined when the version is no longer active.
 */
export async function reserveEncryptions(db: Kysely<Database>, version: number, count: number): Promise<number | undefined> {
  const row = await db
    .updateTable('keyring_keys')
    .set((eb) => ({ encryptions: eb('encryptions', '+', count) }))
    .where('version', '=', version)
    .where('state', '=', 'active')
    .returning('encryptions')
    .executeTakeFirst();
  return row?.encryptions;
}

/** Retires versions no record uses any more: their key material is erased. */
export async function retireKeks(db: Kysely<Database>, versions: readonly number[], at: number): Promise<void> {
  if (versions.length === 0) return;
  await db
    .updateTable('keyring_keys')
    .set({ state: 'retired', sealed: '', retired_at: at })
    .where('version', 'in', [...versions])
    .where('state', '=', 'decrypt-only')
    .execute();
}

/** Replaces the sealed form of every live key (a new master key), in one transaction. */
export async function resealKeks(db: Kysely<Database>, sealed: ReadonlyMap<number, string>): Promise<void> {
  await withTransaction(db, async (tx) => {
    for (const [version, value] of sealed) {
      await tx.updateTable('keyring_keys').set({ sealed: value }).where('version', '=', version).where('state', '!=', 'retired').execute();
    }
  });
}
