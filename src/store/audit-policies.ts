import type { Kysely } from 'kysely';
import type { Database } from './database.js';

/** A custom policy as stored: its original YAML, re-parsed where it is used. */
export interface StoredPolicy {
  id: string;
  name: string;
  format: string;
  text: string;
  checkCount: number;
  createdBy: string;
  createdAt: number;
  updatedAt: number;
}

function toPolicy(row: Database['audit_policies']): StoredPolicy {
  return {
    id: row.id,
    name: row.name,
    format: row.format,
    text: row.text,
    checkCount: row.check_count,
    createdBy: row.created_by,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export async function upsertPolicy(db: Kysely<Database>, p: Omit<StoredPolicy, 'createdAt' | 'updatedAt'>, at: number): Promise<{ created: boolean }> {
  const existing = await db.selectFrom('audit_policies').select('id').where('id', '=', p.id).executeTakeFirst();
  const values = { name: p.name, format: p.format, text: p.text, check_count: p.checkCount, updated_at: at };
  await db
    .insertInto('audit_policies')
    .values({ id: p.id, created_by: p.createdBy, created_at: at, ...values })
    .onConflict((oc) => oc.column('id').doUpdateSet(values))
    .execute();
  return { created: !existing };
}

export async function listPolicies(db: Kysely<Database>): Promise<StoredPolicy[]> {
  return (await db.selectFrom('audit_policies').selectAll().orderBy('id').execute()).map(toPolicy);
}

export async function getPolicies(db: Kysely<Database>, ids: readonly string[]): Promise<StoredPolicy[]> {
  if (ids.length === 0) return [];
  return (await db.selectFrom('audit_policies').selectAll().where('id', 'in', [...ids]).execute()).map(toPolicy);
}

export async function deletePolicy(db: Kysely<Database>, id: string): Promise<boolean> {
  const result = await db.deleteFrom('audit_policies').where('id', '=', id).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}
