import { Migrator, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import { BulwarkError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { Database } from '../database.js';
import { initial } from './0001-initial.js';
import { access } from './0002-access.js';
import { auditLog } from './0003-audit-log.js';
import { tokenMakerAndPendingMfa } from './0004-token-maker-and-pending-mfa.js';
import { audits } from './0005-audits.js';
import { keyring } from './0006-keyring.js';
import { secrets } from './0007-secrets.js';
import { secretDeliveries } from './0008-secret-deliveries.js';
import { backups } from './0009-backups.js';

/** Every migration, by name; names sort in the order they run. Append, never edit. */
export const MIGRATIONS: Readonly<Record<string, Migration>> = {
  '0001-initial': initial,
  '0002-access': access,
  '0003-audit-log': auditLog,
  '0004-token-maker-and-pending-mfa': tokenMakerAndPendingMfa,
  '0005-audits': audits,
  '0006-keyring': keyring,
  '0007-secrets': secrets,
  '0008-secret-deliveries': secretDeliveries,
  '0009-backups': backups,
};

const provider: MigrationProvider = { getMigrations: async () => ({ ...MIGRATIONS }) };

/**
 * Brings the schema to the latest version. Kysely's Migrator holds a PostgreSQL
 * advisory lock around the run (and tolerates racing `create table if not
 * exists`), so replicas starting together apply each migration once.
 *
 * `schema` names where the migration bookkeeping lives: without it Kysely would
 * accept a `kysely_migration` table in any schema of the database.
 */
export async function migrateToLatest(db: Kysely<Database>, opts: { schema?: string; log: Logger }): Promise<void> {
  const migrator = new Migrator({
    db,
    provider,
    ...(opts.schema === undefined ? {} : { migrationTableSchema: opts.schema }),
  });
  let { error, results } = await migrator.migrateToLatest();
  // Kysely looks for its bookkeeping table by listing the tables of every schema;
  // a schema dropped meanwhile by someone else (another tenant, a test) fails that
  // listing. Nothing was applied then, so trying again is safe.
  for (let attempt = 1; attempt < 4 && error !== undefined && isVanishedSchema(error); attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 50 * attempt));
    ({ error, results } = await migrator.migrateToLatest());
  }
  for (const r of results ?? []) {
    if (r.status === 'Success') opts.log.info({ migration: r.migrationName }, 'database migration applied');
    else if (r.status === 'Error') opts.log.error({ migration: r.migrationName }, 'database migration failed');
  }
  if (error !== undefined) {
    const message = error instanceof Error ? error.message : String(error);
    throw new BulwarkError('UNAVAILABLE', `database migration failed: ${message}`);
  }
}

function isVanishedSchema(error: unknown): boolean {
  return /schema "[^"]+" does not exist/.test(error instanceof Error ? error.message : String(error));
}
