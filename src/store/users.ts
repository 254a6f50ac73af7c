import type { Kysely, Selectable, Updateable } from 'kysely';
import type { Database, UsersTable } from './database.js';
import { parseJson } from './json.js';

export interface UserRecord {
  id: string;
  name: string;
  roles: string[];
  passwordHash: string;
  /** Keyring ciphertext of the TOTP secret; null until MFA is enrolled (or while enrolment awaits confirmation, see mfaEnrolledAt). */
  totpSecret: string | null;
  totpAlgorithm: string | null;
  /** Keyring ciphertext of a replacement seed awaiting confirmation. */
  totpPending: string | null;
  totpLastStep: number | null;
  mfaEnrolledAt: number | null;
  lockedAt: number | null;
  failedLogins: number;
  createdAt: number;
  updatedAt: number;
  lastLoginAt: number | null;
}

function toRecord(row: Selectable<UsersTable>): UserRecord {
  return {
    id: row.id,
    name: row.name,
    roles: parseJson<string[]>(row.roles, 'users.roles'),
    passwordHash: row.password_hash,
    totpSecret: row.totp_secret,
    totpAlgorithm: row.totp_algorithm,
    totpPending: row.totp_pending,
    totpLastStep: row.totp_last_step,
    mfaEnrolledAt: row.mfa_enrolled_at,
    lockedAt: row.locked_at,
    failedLogins: row.failed_logins,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    lastLoginAt: row.last_login_at,
  };
}

export async function insertUser(db: Kysely<Database>, u: UserRecord): Promise<void> {
  await db
    .insertInto('users')
    .values({
      id: u.id,
      name: u.name,
      roles: JSON.stringify(u.roles),
      password_hash: u.passwordHash,
      totp_secret: u.totpSecret,
      totp_algorithm: u.totpAlgorithm,
      totp_pending: u.totpPending,
      totp_last_step: u.totpLastStep,
      mfa_enrolled_at: u.mfaEnrolledAt,
      locked_at: u.lockedAt,
      failed_logins: u.failedLogins,
      created_at: u.createdAt,
      updated_at: u.updatedAt,
      last_login_at: u.lastLoginAt,
    })
    .execute();
}

export async function getUserByName(db: Kysely<Database>, name: string): Promise<UserRecord | undefined> {
  const row = await db.selectFrom('users').selectAll().where('name', '=', name).executeTakeFirst();
  return row && toRecord(row);
}

export async function getUser(db: Kysely<Database>, id: string): Promise<UserRecord | undefined> {
  const row = await db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
  return row && toRecord(row);
}

export async function listUsers(db: Kysely<Database>): Promise<UserRecord[]> {
  const rows = await db.selectFrom('users').selectAll().orderBy('name').execute();
  return rows.map(toRecord);
}

export async function deleteUser(db: Kysely<Database>, id: string): Promise<boolean> {
  const result = await db.deleteFrom('users').where('id', '=', id).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

export type UserUpdate = Partial<Pick<UserRecord, 'roles' | 'passwordHash' | 'totpSecret' | 'totpAlgorithm' | 'totpPending' | 'mfaEnrolledAt' | 'lockedAt' | 'failedLogins' | 'lastLoginAt'>>;

export async function updateUser(db: Kysely<Database>, id: string, update: UserUpdate, at: number): Promise<boolean> {
  const set: Updateable<UsersTable> = { updated_at: at };
  if (update.roles !== undefined) set.roles = JSON.stringify(update.roles);
  if (update.passwordHash !== undefined) set.password_hash = update.passwordHash;
  if (update.totpSecret !== undefined) set.totp_secret = update.totpSecret;
  if (update.totpAlgorithm !== undefined) set.totp_algorithm = update.totpAlgorithm;
  if (update.totpPending !== undefined) set.totp_pending = update.totpPending;
  if (update.mfaEnrolledAt !== undefined) set.mfa_enrolled_at = update.mfaEnrolledAt;
  if (update.lockedAt !== undefined) set.locked_at = update.lockedAt;
  if (update.failedLogins !== undefined) set.failed_logins = update.failedLogins;
  if (update.lastLoginAt !== undefined) set.last_login_at = update.lastLoginAt;
  const result = await db.updateTable('users').set(set).where('id', '=', id).executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/**
 * Accepts a TOTP time step only if it is newer than every step accepted before:
 * one conditional UPDATE, so two replicas cannot both accept the same code.
 */
export async function claimTotpStep(db: Kysely<Database>, id: string, step: number): Promise<boolean> {
  const result = await db
    .updateTable('users')
    .set({ totp_last_step: step })
    .where('id', '=', id)
    .where((eb) => eb.or([eb('totp_last_step', 'is', null), eb('totp_last_step', '<', step)]))
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/** Counts a failed login atomically and returns the new count. */
export async function recordFailedLogin(db: Kysely<Database>, id: string, at: number): Promise<number> {
  await db
    .updateTable('users')
    .set((eb) => ({ failed_logins: eb('failed_logins', '+', 1), updated_at: at }))
    .where('id', '=', id)
    .execute();
  const row = await db.selectFrom('users').select('failed_logins').where('id', '=', id).executeTakeFirst();
  return row?.failed_logins ?? 0;
}

export async function countUsersWithRole(db: Kysely<Database>, role: string): Promise<number> {
  const users = await listUsers(db);
  return users.filter((u) => u.roles.includes(role) && u.lockedAt === null).length;
}
