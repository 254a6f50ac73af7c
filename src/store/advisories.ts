import type { Kysely } from 'kysely';
import type { Database } from './database.js';
import { parseJson } from './json.js';
import { withTransaction } from './transaction.js';

/** An advisory as the store keeps it: its id, where it came from, the packages it is indexed under, and the normalised record. */
export interface AdvisoryRow<T> {
  id: string;
  origin: string;
  packages: readonly string[];
  data: T;
}

const CHUNK = 500;

/**
 * Adds or replaces advisories by id, with their package index, in one
 * transaction: an import is all or nothing.
 */
export async function upsertAdvisories<T>(db: Kysely<Database>, advisories: readonly AdvisoryRow<T>[], at: number): Promise<{ added: number; updated: number }> {
  return withTransaction(db, async (trx) => {
    let added = 0;
    for (let i = 0; i < advisories.length; i += CHUNK) {
      const batch = advisories.slice(i, i + CHUNK);
      const ids = batch.map((a) => a.id);
      const existing = await trx.selectFrom('advisories').select('id').where('id', 'in', ids).execute();
      added += batch.length - existing.length;
      await trx.deleteFrom('advisory_packages').where('advisory_id', 'in', ids).execute();
      await trx
        .insertInto('advisories')
        .values(batch.map((a) => ({ id: a.id, origin: a.origin, data: JSON.stringify(a.data), imported_at: at })))
        .onConflict((oc) => oc.column('id').doUpdateSet((eb) => ({ origin: eb.ref('excluded.origin'), data: eb.ref('excluded.data'), imported_at: eb.ref('excluded.imported_at') })))
        .execute();
      const links = batch.flatMap((a) => [...new Set(a.packages)].map((p) => ({ package: p, advisory_id: a.id })));
      for (let j = 0; j < links.length; j += CHUNK) {
        await trx.insertInto('advisory_packages').values(links.slice(j, j + CHUNK)).execute();
      }
    }
    return { added, updated: advisories.length - added };
  });
}

/** Every advisory indexed under any of the package names. */
export async function advisoriesForPackages<T>(db: Kysely<Database>, packages: readonly string[]): Promise<Map<string, T[]>> {
  const byPackage = new Map<string, T[]>();
  const unique = [...new Set(packages)];
  const parsed = new Map<string, T>();
  for (let i = 0; i < unique.length; i += CHUNK) {
    const rows = await db
      .selectFrom('advisory_packages')
      .innerJoin('advisories', 'advisories.id', 'advisory_packages.advisory_id')
      .select(['advisory_packages.package', 'advisories.id', 'advisories.data'])
      .where('advisory_packages.package', 'in', unique.slice(i, i + CHUNK))
      .execute();
    for (const row of rows) {
      let advisory = parsed.get(row.id);
      if (advisory === undefined) {
        advisory = parseJson<T>(row.data, 'advisories.data');
        parsed.set(row.id, advisory);
      }
      const list = byPackage.get(row.package) ?? [];
      list.push(advisory);
      byPackage.set(row.package, list);
    }
  }
  return byPackage;
}

export async function advisoryStats(db: Kysely<Database>): Promise<{ origin: string; count: number; lastImportAt: number | null }[]> {
  const rows = await db
    .selectFrom('advisories')
    .select((eb) => ['origin', eb.fn.countAll().as('count'), eb.fn.max('imported_at').as('last')])
    .groupBy('origin')
    .orderBy('origin')
    .execute();
  return rows.map((r) => ({ origin: r.origin, count: Number(r.count), lastImportAt: r.last === null ? null : Number(r.last) }));
}
