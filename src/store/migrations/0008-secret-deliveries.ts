import type { Migration } from 'kysely';

/**
 * Secret deliveries: which secret goes to which nodes (a label selector), where
 * on them and with what mode and owner; and per node what its agent last
 * reported (delivered, removed, error).
 */
export const secretDeliveries: Migration = {
  async up(db): Promise<void> {
    await db.schema
      .createTable('secret_deliveries')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('path', 'text', (c) => c.notNull())
      .addColumn('selector', 'text', (c) => c.notNull())
      .addColumn('dest', 'text', (c) => c.notNull())
      .addColumn('mode', 'integer', (c) => c.notNull())
      .addColumn('owner', 'text')
      .addColumn('grp', 'text')
      .addColumn('created_by', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('deleted_at', 'bigint')
      .execute();
    await db.schema.createIndex('secret_deliveries_path_idx').on('secret_deliveries').column('path').execute();

    await db.schema
      .createTable('secret_delivery_status')
      .addColumn('delivery_id', 'text', (c) => c.notNull())
      .addColumn('node_id', 'text', (c) => c.notNull())
      .addColumn('version', 'integer', (c) => c.notNull())
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('error', 'text')
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('secret_delivery_status_pk', ['delivery_id', 'node_id'])
      .execute();
    await db.schema.createIndex('secret_delivery_status_node_idx').on('secret_delivery_status').column('node_id').execute();
  },
};
