import type { Migration } from 'kysely';

/**
 * The keyring's key-encryption keys: one row per version, sealed under the
 * master key, with how many encryptions have been reserved under it (a key
 * version must not wrap 2^32 data keys) and its state: `active` (the one new
 * data uses), `decrypt-only` (data still wrapped under it, a re-wrap is moving
 * it) or `retired` (no record uses it; its key material is erased).
 */
export const keyring: Migration = {
  async up(db): Promise<void> {
    await db.schema
      .createTable('keyring_keys')
      .addColumn('version', 'integer', (c) => c.primaryKey())
      .addColumn('sealed', 'text', (c) => c.notNull())
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('encryptions', 'bigint', (c) => c.notNull().defaultTo(0))
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('retired_at', 'bigint')
      .execute();
  },
};
