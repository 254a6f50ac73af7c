import { sql, type Kysely, type Selectable } from 'kysely';
import { versionsBeyondRetention } from '../secrets/retention.js';
import type { Database, SecretsTable, SecretVersionsTable } from './database.js';
import { withTransaction } from './transaction.js';

export interface SecretRecord {
  path: string;
  currentVersion: number;
  maxVersions: number;
  createdAt: number;
  updatedAt: number;
}

export interface SecretVersionRecord {
  path: string;
  version: number;
  /** Keyring ciphertext bound to (secret_versions, path, version); null once destroyed. */
  sealed: string | null;
  createdBy: string;
  createdAt: number;
  deletedAt: number | null;
  destroyedAt: number | null;
}

/** A secret with the timestamps of its current version, for lists. */
export interface SecretListRecord extends SecretRecord {
  currentDeletedAt: number | null;
  currentDestroyedAt: number | null;
}

function toSecret(row: Selectable<SecretsTable>): SecretRecord {
  return { path: row.path, currentVersion: row.current_version, maxVersions: row.max_versions, createdAt: row.created_at, updatedAt: row.updated_at };
}

function toVersion(row: Selectable<SecretVersionsTable>): SecretVersionRecord {
  return {
    path: row.path,
    version: row.version,
    sealed: row.value,
    createdBy: row.created_by,
    createdAt: row.created_at,
    deletedAt: row.deleted_at,
    destroyedAt: row.destroyed_at,
  };
}

export async function getSecret(db: Kysely<Database>, path: string): Promise<SecretRecord | undefined> {
  const row = await db.selectFrom('secrets').selectAll().where('path', '=', path).executeTakeFirst();
  return row && toSecret(row);
}

export async function getSecretVersion(db: Kysely<Database>, path: string, version: number): Promise<SecretVersionRecord | undefined> {
  const row = await db.selectFrom('secret_versions').selectAll().where('path', '=', path).where('version', '=', version).executeTakeFirst();
  return row && toVersion(row);
}

/** The versions still kept, oldest first. */
export async function listSecretVersions(db: Kysely<Database>, path: string): Promise<SecretVersionRecord[]> {
  const rows = await db.selectFrom('secret_versions').selectAll().where('path', '=', path).orderBy('version').execute();
  return rows.map(toVersion);
}

/**
 * Secrets whose path starts with `prefix` (plain string prefix), sorted by path
 * the same way on every database (SQL collations differ, so the sort is here).
 */
export async function listSecrets(db: Kysely<Database>, opts: { prefix?: string } = {}): Promise<SecretListRecord[]> {
  let query = db
    .selectFrom('secrets')
    .leftJoin('secret_versions as v', (join) => join.onRef('v.path', '=', 'secrets.path').onRef('v.version', '=', 'secrets.current_version'))
    .selectAll('secrets')
    .select(['v.deleted_at as current_deleted_at', 'v.destroyed_at as current_destroyed_at']);
  const prefix = opts.prefix ?? '';
  // Not LIKE: "_" is a LIKE wildcard, and SQLite's LIKE ignores case.
  if (prefix !== '') query = query.where(sql<string>`substr(${sql.ref('secrets.path')}, 1, ${sql.lit(prefix.length)})`, '=', prefix);
  const rows = await query.execute();
  return rows
    .map((row) => ({ ...toSecret(row), currentDeletedAt: row.current_deleted_at ?? null, currentDestroyedAt: row.current_destroyed_at ?? null }))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

export interface WriteSecretVersion {
  path: string;
  /** The current version the value was encrypted against; 0 for a secret that does not exist yet. */
  expectedVersion: number;
  sealed: string;
  createdBy: string;
  at: number;
  /** Changes how many versions the secret keeps; undefined keeps the stored number (or `defaultMaxVersions` for a new secret). */
  maxVersions: number | undefined;
  defaultMaxVersions: number;
}

export type WriteSecretResult = { written: false } | { written: true; version: number; maxVersions: number; removed: number[] };

/**
 * Writes version `expectedVersion + 1` if the secret's current version is still
 * `expectedVersion` (compare-and-set, one statement, so concurrent writers on any
 * number of replicas never get the same version and none is lost: the loser
 * gets `{written: false}`, reads again and retries). Versions beyond the
 * secret's retention are removed with their ciphertext in the same transaction.
 */
export async function writeSecretVersion(db: Kysely<Database>, w: WriteSecretVersion): Promise<WriteSecretResult> {
  const version = w.expectedVersion + 1;
  return withTransaction(db, async (trx) => {
    let maxVersions: number;
    if (w.expectedVersion === 0) {
      maxVersions = w.maxVersions ?? w.defaultMaxVersions;
      const inserted = await trx
        .insertInto('secrets')
        .values({ path: w.path, current_version: version, max_versions: maxVersions, created_at: w.at, updated_at: w.at })
        .onConflict((oc) => oc.column('path').doNothing())
        .executeTakeFirst();
      if (Number(inserted.numInsertedOrUpdatedRows ?? 0n) !== 1) return { written: false };
    } else {
      const updated = await trx
        .updateTable('secrets')
        .set({ current_version: version, updated_at: w.at, ...(w.maxVersions === undefined ? {} : { max_versions: w.maxVersions }) })
        .where('path', '=', w.path)
        .where('current_version', '=', w.expectedVersion)
        .executeTakeFirst();
      if (Number(updated.numUpdatedRows) !== 1) return { written: false };
      const row = await trx.selectFrom('secrets').select('max_versions').where('path', '=', w.path).executeTakeFirstOrThrow();
      maxVersions = row.max_versions;
    }
    await trx
      .insertInto('secret_versions')
      .values({ path: w.path, version, value: w.sealed, created_by: w.createdBy, created_at: w.at, deleted_at: null, destroyed_at: null })
      .execute();
    const kept = await trx.selectFrom('secret_versions').select('version').where('path', '=', w.path).execute();
    const removed = versionsBeyondRetention(
      kept.map((r) => r.version),
      maxVersions,
    );
    if (removed.length > 0) await trx.deleteFrom('secret_versions').where('path', '=', w.path).where('version', 'in', removed).execute();
    return { written: true, version, maxVersions, removed };
  });
}

/** Soft delete: the version stays listed but is no longer readable. False when it is unknown or already deleted or destroyed. */
export async function markSecretVersionDeleted(db: Kysely<Database>, path: string, version: number, at: number): Promise<boolean> {
  const result = await db
    .updateTable('secret_versions')
    .set({ deleted_at: at })
    .where('path', '=', path)
    .where('version', '=', version)
    .where('deleted_at', 'is', null)
    .where('destroyed_at', 'is', null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** Erases the ciphertext for good. False when the version is unknown or already destroyed. */
export async function destroySecretVersion(db: Kysely<Database>, path: string, version: number, at: number): Promise<boolean> {
  const result = await db
    .updateTable('secret_versions')
    .set({ value: null, destroyed_at: at })
    .where('path', '=', path)
    .where('version', '=', version)
    .where('destroyed_at', 'is', null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** The current version of each of `paths` that exists and is neither deleted nor destroyed. */
export async function liveCurrentVersions(db: Kysely<Database>, paths: readonly string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const unique = [...new Set(paths)];
  // Bounded IN lists: PostgreSQL and SQLite both cap the number of parameters.
  for (let i = 0; i < unique.length; i += 500) {
    const rows = await db
      .selectFrom('secrets')
      .innerJoin('secret_versions as v', (join) => join.onRef('v.path', '=', 'secrets.path').onRef('v.version', '=', 'secrets.current_version'))
      .select(['secrets.path', 'secrets.current_version'])
      .where('secrets.path', 'in', unique.slice(i, i + 500))
      .where('v.deleted_at', 'is', null)
      .where('v.destroyed_at', 'is', null)
      .execute();
    for (const row of rows) out.set(row.path, row.current_version);
  }
  return out;
}
