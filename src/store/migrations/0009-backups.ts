import type { Migration } from 'kysely';

/**
 * Fleet backups: policies (what each matching node backs up, where, on which
 * schedule; the repository credential as keyring ciphertext), the runs and
 * drills the agents report (a bounded history per node and policy), and per
 * node and policy the last good backup the recovery point is measured from.
 */
export const backups: Migration = {
  async up(db): Promise<void> {
    await db.schema
      .createTable('backup_policies')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull().unique())
      .addColumn('selector', 'text', (c) => c.notNull())
      .addColumn('paths', 'text', (c) => c.notNull())
      .addColumn('excludes', 'text', (c) => c.notNull())
      .addColumn('tags', 'text', (c) => c.notNull())
      .addColumn('schedule', 'text', (c) => c.notNull())
      .addColumn('repo', 'text', (c) => c.notNull())
      .addColumn('s3_endpoint', 'text')
      .addColumn('retention', 'text')
      .addColumn('prune', 'integer', (c) => c.notNull())
      .addColumn('drill_schedule', 'text')
      .addColumn('drill_sample', 'integer', (c) => c.notNull())
      .addColumn('max_age_ms', 'bigint', (c) => c.notNull())
      .addColumn('max_age_default', 'integer', (c) => c.notNull())
      .addColumn('credential', 'text', (c) => c.notNull())
      .addColumn('credential_kind', 'text', (c) => c.notNull())
      .addColumn('credential_version', 'integer', (c) => c.notNull())
      .addColumn('s3_keys', 'integer', (c) => c.notNull())
      .addColumn('version', 'integer', (c) => c.notNull())
      .addColumn('created_by', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_by', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('backup_runs')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('node_id', 'text', (c) => c.notNull())
      .addColumn('policy_id', 'text', (c) => c.notNull())
      .addColumn('policy_name', 'text', (c) => c.notNull())
      .addColumn('run_id', 'text', (c) => c.notNull())
      .addColumn('trigger', 'text', (c) => c.notNull())
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('snapshot_id', 'text')
      .addColumn('started_at', 'bigint', (c) => c.notNull())
      .addColumn('finished_at', 'bigint', (c) => c.notNull())
      .addColumn('stats', 'text')
      .addColumn('forgotten', 'bigint')
      .addColumn('pruned', 'bigint')
      .addColumn('error_code', 'text')
      .addColumn('error_message', 'text')
      .addColumn('notes', 'text', (c) => c.notNull())
      .addColumn('received_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('backup_runs_node_run_idx').on('backup_runs').columns(['node_id', 'run_id']).unique().execute();
    await db.schema.createIndex('backup_runs_history_idx').on('backup_runs').columns(['node_id', 'policy_id', 'finished_at']).execute();

    await db.schema
      .createTable('backup_status')
      .addColumn('node_id', 'text', (c) => c.notNull())
      .addColumn('policy_id', 'text', (c) => c.notNull())
      .addColumn('last_good_at', 'bigint')
      .addColumn('last_good_snapshot', 'text')
      .addColumn('last_run_at', 'bigint')
      .addColumn('last_run_state', 'text')
      .addColumn('last_error_code', 'text')
      .addColumn('last_error_message', 'text')
      .addColumn('missed_at', 'bigint')
      .addPrimaryKeyConstraint('backup_status_pk', ['node_id', 'policy_id'])
      .execute();
    await db.schema.createIndex('backup_status_policy_idx').on('backup_status').column('policy_id').execute();

    await db.schema
      .createTable('backup_drills')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('node_id', 'text', (c) => c.notNull())
      .addColumn('policy_id', 'text', (c) => c.notNull())
      .addColumn('policy_name', 'text', (c) => c.notNull())
      .addColumn('drill_id', 'text', (c) => c.notNull())
      .addColumn('trigger', 'text', (c) => c.notNull())
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('requested_by', 'text')
      .addColumn('started_at', 'bigint', (c) => c.notNull())
      .addColumn('finished_at', 'bigint', (c) => c.notNull())
      .addColumn('snapshot_id', 'text')
      .addColumn('snapshot_time', 'bigint')
      .addColumn('files_in_snapshot', 'bigint', (c) => c.notNull())
      .addColumn('files_sampled', 'bigint', (c) => c.notNull())
      .addColumn('files_verified', 'bigint', (c) => c.notNull())
      .addColumn('files_failed', 'bigint', (c) => c.notNull())
      .addColumn('failures', 'text', (c) => c.notNull())
      .addColumn('sample_bytes', 'bigint', (c) => c.notNull())
      .addColumn('total_bytes', 'bigint', (c) => c.notNull())
      .addColumn('restore_ms', 'bigint', (c) => c.notNull())
      .addColumn('estimated_rto_ms', 'bigint')
      .addColumn('rpo_ms', 'bigint')
      .addColumn('error_code', 'text')
      .addColumn('error_message', 'text')
      .addColumn('received_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('backup_drills_node_drill_idx').on('backup_drills').columns(['node_id', 'drill_id']).unique().execute();
    await db.schema.createIndex('backup_drills_history_idx').on('backup_drills').columns(['node_id', 'policy_id', 'finished_at']).execute();
  },
};
