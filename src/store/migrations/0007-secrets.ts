import type { Migration } from 'kysely';

/**
 * The versioned secrets store: one row per secret (its newest version, the
 * compare-and-set point of every write, and how many versions it keeps) and one
 * row per version, whose value is keyring ciphertext bound to path and version,
 * NULL once destroyed.
 */
export const secrets: Migration = {
  async up(db): Promise<void> {
    await db.schema
      .createTable('secrets')
      .addColumn('path', 'text', (c) => c.primaryKey())
      .addColumn('current_version', 'integer', (c) => c.notNull())
      .addColumn('max_versions', 'integer', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('secret_versions')
      .addColumn('path', 'text', (c) => c.notNull())
      .addColumn('version', 'integer', (c) => c.notNull())
      .addColumn('value', 'text')
      .addColumn('created_by', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('deleted_at', 'bigint')
      .addColumn('destroyed_at', 'bigint')
      .addPrimaryKeyConstraint('secret_versions_pk', ['path', 'version'])
      .execute();
  },
};
