import type { Kysely, Selectable } from 'kysely';
import type { ApiTokensTable, Database } from './database.js';

export interface ApiTokenRecord {
  id: string;
  secretHash: string;
  name: string;
  role: string;
  createdAt: number;
  expiresAt: number | null;
  lastUsedAt: number | null;
  revokedAt: number | null;
  /** The user who minted it, if a user did. */
  createdBy: string | null;
}

function toRecord(row: Selectable<ApiTokensTable>): ApiTokenRecord {
  return {
    id: row.id,
    secretHash: row.secret_hash,
    name: row.name,
    role: row.role,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    lastUsedAt: row.last_used_at,
    revokedAt: row.revoked_at,
    createdBy: row.created_by,
  };
}

export async function insertApiToken(db: Kysely<Database>, rec: ApiTokenRecord): Promise<void> {
  await db
    .insertInto('api_tokens')
    .values({
      id: rec.id,
      secret_hash: rec.secretHash,
      name: rec.name,
      role: rec.role,
      created_at: rec.createdAt,
      expires_at: rec.expiresAt,
      last_used_at: rec.lastUsedAt,
      revoked_at: rec.revokedAt,
      created_by: rec.createdBy,
    })
    .execute();
}

export async function getApiToken(db: Kysely<Database>, id: string): Promise<ApiTokenRecord | undefined> {
  const row = await db.selectFrom('api_tokens').selectAll().where('id', '=', id).executeTakeFirst();
  return row && toRecord(row);
}

/** Records a use; never moves `lastUsedAt` backwards when replicas race. */
export async function touchApiToken(db: Kysely<Database>, id: string, at: number): Promise<void> {
  await db
    .updateTable('api_tokens')
    .set({ last_used_at: at })
    .where('id', '=', id)
    .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<', at)]))
    .execute();
}

/** False when the token is unknown or already revoked. */
export async function revokeApiToken(db: Kysely<Database>, id: string, at: number): Promise<boolean> {
  const result = await db.updateTable('api_tokens').set({ revoked_at: at }).where('id', '=', id).where('revoked_at', 'is', null).executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** Every token, revoked and expired ones included, oldest first. */
export async function listApiTokens(db: Kysely<Database>): Promise<ApiTokenRecord[]> {
  const rows = await db.selectFrom('api_tokens').selectAll().orderBy('created_at').orderBy('id').execute();
  return rows.map(toRecord);
}
