import type { Kysely, Selectable } from 'kysely';
import type { Database, SessionsTable } from './database.js';

export interface SessionRecord {
  id: string;
  secretHash: string;
  userId: string;
  createdAt: number;
  expiresAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
  source: string;
  /** Whether the login that made it passed a second factor. */
  mfa: boolean;
}

function toRecord(row: Selectable<SessionsTable>): SessionRecord {
  return {
    id: row.id,
    secretHash: row.secret_hash,
    userId: row.user_id,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    lastUsedAt: row.last_used_at,
    revokedAt: row.revoked_at,
    source: row.source,
    mfa: row.mfa === 1,
  };
}

export async function insertSession(db: Kysely<Database>, s: SessionRecord): Promise<void> {
  await db
    .insertInto('sessions')
    .values({
      id: s.id,
      secret_hash: s.secretHash,
      user_id: s.userId,
      created_at: s.createdAt,
      expires_at: s.expiresAt,
      last_used_at: s.lastUsedAt,
      revoked_at: s.revokedAt,
      source: s.source,
      mfa: s.mfa ? 1 : 0,
    })
    .execute();
}

export async function getSession(db: Kysely<Database>, id: string): Promise<SessionRecord | undefined> {
  const row = await db.selectFrom('sessions').selectAll().where('id', '=', id).executeTakeFirst();
  return row && toRecord(row);
}

export async function listSessions(db: Kysely<Database>, opts: { userId?: string; activeAt?: number } = {}): Promise<SessionRecord[]> {
  let q = db.selectFrom('sessions').selectAll();
  if (opts.userId !== undefined) q = q.where('user_id', '=', opts.userId);
  if (opts.activeAt !== undefined) q = q.where('revoked_at', 'is', null).where('expires_at', '>', opts.activeAt);
  const rows = await q.orderBy('created_at', 'desc').execute();
  return rows.map(toRecord);
}

export async function touchSession(db: Kysely<Database>, id: string, at: number): Promise<void> {
  await db.updateTable('sessions').set({ last_used_at: at }).where('id', '=', id).execute();
}

export async function revokeSession(db: Kysely<Database>, id: string, at: number): Promise<boolean> {
  const result = await db.updateTable('sessions').set({ revoked_at: at }).where('id', '=', id).where('revoked_at', 'is', null).executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/** Revokes every live session of a user (lock, removal, password change). */
export async function revokeUserSessions(db: Kysely<Database>, userId: string, at: number): Promise<number> {
  const result = await db.updateTable('sessions').set({ revoked_at: at }).where('user_id', '=', userId).where('revoked_at', 'is', null).executeTakeFirst();
  return Number(result.numUpdatedRows);
}
