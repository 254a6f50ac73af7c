import type { Migration } from 'kysely';

/**
 * Security audits: runs, each node's result in a run, the findings of a result,
 * a pointer to every node's latest result, schedules, custom policies, and the
 * advisory data set with its package index.
 */
export const audits: Migration = {
  async up(db): Promise<void> {
    await db.schema
      .createTable('audit_runs')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('trigger', 'text', (c) => c.notNull())
      .addColumn('schedule_id', 'text')
      .addColumn('requested_by', 'text', (c) => c.notNull())
      .addColumn('selector', 'text', (c) => c.notNull())
      .addColumn('spec', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('node_count', 'integer', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('deadline_at', 'bigint', (c) => c.notNull())
      .addColumn('finished_at', 'bigint')
      .execute();
    await db.schema.createIndex('audit_runs_created_idx').on('audit_runs').column('created_at').execute();
    await db.schema.createIndex('audit_runs_status_idx').on('audit_runs').column('status').execute();

    await db.schema
      .createTable('audit_node_results')
      .addColumn('run_id', 'text', (c) => c.notNull())
      .addColumn('node_id', 'text', (c) => c.notNull())
      .addColumn('node_name', 'text', (c) => c.notNull())
      .addColumn('request_id', 'text', (c) => c.notNull().unique())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('dispatched_at', 'bigint')
      .addColumn('started_at', 'bigint')
      .addColumn('finished_at', 'bigint')
      .addColumn('score', 'double precision')
      .addColumn('passed', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('failed', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('not_applicable', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('failed_by_severity', 'text', (c) => c.notNull().defaultTo('{}'))
      .addColumn('errors', 'text', (c) => c.notNull().defaultTo('[]'))
      .addColumn('failure_code', 'text')
      .addColumn('failure_message', 'text')
      .addColumn('drift', 'text')
      .addPrimaryKeyConstraint('audit_node_results_pk', ['run_id', 'node_id'])
      .execute();
    await db.schema.createIndex('audit_node_results_node_idx').on('audit_node_results').columns(['node_id', 'finished_at']).execute();

    await db.schema
      .createTable('audit_findings')
      .addColumn('run_id', 'text', (c) => c.notNull())
      .addColumn('node_id', 'text', (c) => c.notNull())
      .addColumn('key', 'text', (c) => c.notNull())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('rule_id', 'text', (c) => c.notNull())
      .addColumn('source', 'text', (c) => c.notNull())
      .addColumn('title', 'text', (c) => c.notNull())
      .addColumn('severity', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('evidence', 'text', (c) => c.notNull())
      .addColumn('location', 'text')
      .addColumn('extra', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('audit_findings_pk', ['run_id', 'node_id', 'key'])
      .execute();

    await db.schema
      .createTable('audit_latest')
      .addColumn('node_id', 'text', (c) => c.primaryKey())
      .addColumn('run_id', 'text', (c) => c.notNull())
      .addColumn('finished_at', 'bigint', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('audit_schedules')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull().unique())
      .addColumn('cron', 'text', (c) => c.notNull())
      .addColumn('selector', 'text', (c) => c.notNull())
      .addColumn('spec', 'text', (c) => c.notNull())
      .addColumn('enabled', 'integer', (c) => c.notNull())
      .addColumn('created_by', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .addColumn('next_run_at', 'bigint', (c) => c.notNull())
      .addColumn('last_run_at', 'bigint')
      .addColumn('last_run_id', 'text')
      .execute();

    await db.schema
      .createTable('audit_policies')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('format', 'text', (c) => c.notNull())
      .addColumn('text', 'text', (c) => c.notNull())
      .addColumn('check_count', 'integer', (c) => c.notNull())
      .addColumn('created_by', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('advisories')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('origin', 'text', (c) => c.notNull())
      .addColumn('data', 'text', (c) => c.notNull())
      .addColumn('imported_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('advisory_packages')
      .addColumn('package', 'text', (c) => c.notNull())
      .addColumn('advisory_id', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('advisory_packages_pk', ['package', 'advisory_id'])
      .execute();
    await db.schema.createIndex('advisory_packages_advisory_idx').on('advisory_packages').column('advisory_id').execute();
  },
};
