import type { Migration } from 'kysely';
import { dialectOf } from '../dialects/dialect.js';

// Migrations see an untyped Kysely: today's table types describe the schema
// after the last migration, not at this one.
export const initial: Migration = {
  async up(db): Promise<void> {
    const dialect = dialectOf(db);

    await db.schema
      .createTable('nodes')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('labels', 'text', (c) => c.notNull())
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('facts', 'text')
      .addColumn('facts_hash', 'text')
      .addColumn('cert_serial', 'text')
      .addColumn('cert_not_after', 'bigint')
      .addColumn('agent_version', 'text')
      .addColumn('protocol_version', 'integer')
      .addColumn('join_token_id', 'text')
      .addColumn('joined_at', 'bigint', (c) => c.notNull())
      .addColumn('last_seen_at', 'bigint')
      .addColumn('state_changed_at', 'bigint', (c) => c.notNull())
      .addColumn('removed_at', 'bigint')
      .execute();
    await db.schema.createIndex('nodes_name_idx').on('nodes').column('name').execute();
    await db.schema.createIndex('nodes_state_idx').on('nodes').column('state').execute();

    await db.schema
      .createTable('join_tokens')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('secret_hash', 'text', (c) => c.notNull())
      .addColumn('labels', 'text', (c) => c.notNull())
      .addColumn('uses_allowed', 'integer', (c) => c.notNull())
      .addColumn('uses_count', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('created_by', 'text', (c) => c.notNull())
      .addColumn('revoked_at', 'bigint')
      .addColumn('description', 'text')
      .execute();
    await db.schema.createIndex('join_tokens_expires_at_idx').on('join_tokens').column('expires_at').execute();

    await db.schema
      .createTable('api_tokens')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('secret_hash', 'text', (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('role', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('expires_at', 'bigint')
      .addColumn('last_used_at', 'bigint')
      .addColumn('revoked_at', 'bigint')
      .execute();

    await db.schema
      .createTable('certificates')
      .addColumn('serial', 'text', (c) => c.primaryKey())
      .addColumn('node_id', 'text', (c) => c.notNull())
      .addColumn('fingerprint', 'text', (c) => c.notNull())
      .addColumn('not_before', 'bigint', (c) => c.notNull())
      .addColumn('not_after', 'bigint', (c) => c.notNull())
      .addColumn('issued_at', 'bigint', (c) => c.notNull())
      .addColumn('revoked_at', 'bigint')
      .addColumn('revoke_reason', 'text')
      .execute();
    await db.schema.createIndex('certificates_node_id_idx').on('certificates').column('node_id').execute();
    await db.schema.createIndex('certificates_revoked_at_idx').on('certificates').column('revoked_at').execute();

    await db.schema
      .createTable('events')
      .addColumn('id', dialect.autoIncrementType, (c) => dialect.autoIncrementPrimaryKey(c))
      .addColumn('time', 'bigint', (c) => c.notNull())
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('node_id', 'text')
      .addColumn('details', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('events_node_id_idx').on('events').columns(['node_id', 'id']).execute();
    await db.schema.createIndex('events_time_idx').on('events').column('time').execute();
    await db.schema.createIndex('events_type_idx').on('events').columns(['type', 'id']).execute();

    await db.schema
      .createTable('cluster_state')
      .addColumn('key', 'text', (c) => c.primaryKey())
      .addColumn('value', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
  },

  async down(db): Promise<void> {
    for (const table of ['cluster_state', 'events', 'certificates', 'api_tokens', 'join_tokens', 'nodes']) {
      await db.schema.dropTable(table).execute();
    }
  },
};
