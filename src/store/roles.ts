import type { Kysely } from 'kysely';
import type { Database } from './database.js';
import { parseJson } from './json.js';

/** Custom roles as stored: the validated role object as JSON. The access engine checks it on the way in. */
export interface StoredRole {
  name: string;
  definition: unknown;
  createdAt: number;
  updatedAt: number;
}

export async function upsertRole(db: Kysely<Database>, name: string, definition: unknown, at: number): Promise<void> {
  const json = JSON.stringify(definition);
  await db
    .insertInto('roles')
    .values({ name, definition: json, created_at: at, updated_at: at })
    .onConflict((oc) => oc.column('name').doUpdateSet({ definition: json, updated_at: at }))
    .execute();
}

export async function listRoles(db: Kysely<Database>): Promise<StoredRole[]> {
  const rows = await db.selectFrom('roles').selectAll().orderBy('name').execute();
  return rows.map((r) => ({ name: r.name, definition: parseJson<unknown>(r.definition, 'roles.definition'), createdAt: r.created_at, updatedAt: r.updated_at }));
}

export async function deleteRole(db: Kysely<Database>, name: string): Promise<boolean> {
  const result = await db.deleteFrom('roles').where('name', '=', name).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}
