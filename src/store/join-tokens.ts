import type { Kysely, Selectable } from 'kysely';
import type { Database, JoinTokensTable } from './database.js';
import { parseJson } from './json.js';

export interface JoinTokenRecord {
  id: string;
  secretHash: string;
  /** Labels every node joining with this token receives. */
  labels: Record<string, string>;
  usesAllowed: number;
  usesCount: number;
  expiresAt: number;
  createdAt: number;
  createdBy: string;
  revokedAt: number | null;
  description: string | null;
}

function toRecord(row: Selectable<JoinTokensTable>): JoinTokenRecord {
  return {
    id: row.id,
    secretHash: row.secret_hash,
    labels: parseJson<Record<string, string>>(row.labels, 'join_tokens.labels'),
    usesAllowed: row.uses_allowed,
    usesCount: row.uses_count,
    expiresAt: row.expires_at,
    createdAt: row.created_at,
    createdBy: row.created_by,
    revokedAt: row.revoked_at,
    description: row.description,
  };
}

export async function insertJoinToken(db: Kysely<Database>, rec: JoinTokenRecord): Promise<void> {
  await db
    .insertInto('join_tokens')
    .values({
      id: rec.id,
      secret_hash: rec.secretHash,
      labels: JSON.stringify(rec.labels),
      uses_allowed: rec.usesAllowed,
      uses_count: rec.usesCount,
      expires_at: rec.expiresAt,
      created_at: rec.createdAt,
      created_by: rec.createdBy,
      revoked_at: rec.revokedAt,
      description: rec.description,
    })
    .execute();
}

export async function getJoinToken(db: Kysely<Database>, id: string): Promise<JoinTokenRecord | undefined> {
  const row = await db.selectFrom('join_tokens').selectAll().where('id', '=', id).executeTakeFirst();
  return row && toRecord(row);
}

/**
 * Tokens by creation time, newest first. Without `includeInactive`, only those
 * still usable at `now`: not revoked, not expired, uses left.
 */
export async function listJoinTokens(db: Kysely<Database>, opts: { includeInactive?: boolean; now: number }): Promise<JoinTokenRecord[]> {
  let query = db.selectFrom('join_tokens').selectAll();
  if (!opts.includeInactive) {
    query = query
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', opts.now)
      .where((eb) => eb('uses_count', '<', eb.ref('uses_allowed')));
  }
  const rows = await query.orderBy('created_at', 'desc').orderBy('id').execute();
  return rows.map(toRecord);
}

/**
 * Spends one use of a token. The checks and the increment are one UPDATE, so
 * concurrent joins on any number of replicas never spend more uses than allowed.
 * False when the token is unknown, revoked, expired or used up; read it to tell which.
 */
export async function consumeJoinTokenUse(db: Kysely<Database>, id: string, now: number): Promise<boolean> {
  const result = await db
    .updateTable('join_tokens')
    .set((eb) => ({ uses_count: eb('uses_count', '+', 1) }))
    .where('id', '=', id)
    .where((eb) => eb('uses_count', '<', eb.ref('uses_allowed')))
    .where('expires_at', '>', now)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** False when the token is unknown or already revoked. */
export async function revokeJoinToken(db: Kysely<Database>, id: string, at: number): Promise<boolean> {
  const result = await db.updateTable('join_tokens').set({ revoked_at: at }).where('id', '=', id).where('revoked_at', 'is', null).executeTakeFirst();
  return result.numUpdatedRows > 0n;
}
