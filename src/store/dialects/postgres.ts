import pg from 'pg';
import { Kysely, PostgresDialect, sql } from 'kysely';
import { BulwarkError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { Database } from '../database.js';
import { migrateToLatest } from '../migrations/migrate.js';
import type { Store } from '../store.js';
import { registerDialect, type DialectHooks } from './dialect.js';
import { PostgresLeaderLock } from './postgres-leader-lock.js';
import { PostgresNotifier } from './postgres-notifier.js';

const INT8_OID = 20;
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
// 2 parameters a row; PostgreSQL allows 65,535 parameters a statement.
const TOUCH_CHUNK = 1000;

/**
 * bigint columns hold millisecond times and counts, all far below 2^53; reading
 * them as numbers keeps one record shape for both databases. Scoped to our
 * clients: the global `pg.types` is shared with every other pg user in the process.
 */
const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary' ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig['getTypeParser'],
};

const hooks: DialectHooks = {
  kind: 'postgres',
  autoIncrementType: 'bigint',
  autoIncrementPrimaryKey: (col) => col.primaryKey().generatedAlwaysAsIdentity(),
  async touchLastSeen(db, entries) {
    for (let i = 0; i < entries.length; i += TOUCH_CHUNK) {
      const rows = entries.slice(i, i + TOUCH_CHUNK).map((e) => sql`(${e.id}::text, ${e.at}::bigint)`);
      await sql`update nodes set last_seen_at = v.at
        from (values ${sql.join(rows)}) as v(id, at)
        where nodes.id = v.id`.execute(db);
    }
  },
  async serialiseEventAppends(trx) {
    // Identity values are handed out before commit; holding this lock to commit
    // makes the next append wait, so ids become visible in ascending order.
    await sql`select pg_advisory_xact_lock(hashtext(current_schema() || ':bulwark_events'))`.execute(trx);
  },
  async serialiseAuditAppends(trx) {
    // Read committed: once the lock is held, the next select sees the tip the
    // previous holder committed, so seqs never collide and the chain never forks.
    await sql`select pg_advisory_xact_lock(hashtext(current_schema() || ':bulwark_audit'))`.execute(trx);
  },
};

export interface PostgresConnectOptions {
  url: string;
  schema?: string;
  log: Logger;
}

/** Connection settings shared by the pool and the dedicated LISTEN and lock clients. */
export function clientConfig(opts: PostgresConnectOptions): pg.ClientConfig {
  return {
    connectionString: opts.url,
    types,
    application_name: 'bulwark',
    // The LISTEN and lock clients sit idle for hours: keepalives notice a dead peer.
    keepAlive: true,
    connectionTimeoutMillis: 10_000,
    ...(opts.schema === undefined ? {} : { options: `-c search_path=${opts.schema}` }),
  };
}

function checkSchema(schema: string | undefined): void {
  if (schema !== undefined && !SCHEMA_NAME.test(schema)) {
    throw new BulwarkError('CONFIG_INVALID', `database schema "${schema}" is not a plain identifier: use lower-case letters, digits and _`);
  }
}

async function createSchema(pool: pg.Pool, schema: string): Promise<void> {
  try {
    await pool.query(`create schema if not exists "${schema}"`);
  } catch (err) {
    // Two replicas creating the schema at once: one wins, the other sees a
    // unique violation in the catalogue although "if not exists" was said.
    if ((err as { code?: string }).code !== '23505') throw err;
  }
}

/** Opens a pool on a PostgreSQL database, creating `schema` if given, and migrates. */
export async function openPostgres(opts: PostgresConnectOptions): Promise<Store> {
  checkSchema(opts.schema);
  const { log } = opts;
  const pool = new pg.Pool({ ...clientConfig(opts), max: 10, idleTimeoutMillis: 30_000 });
  // An idle client losing its connection emits on the pool; unhandled, that would end the process.
  pool.on('error', (err) => log.warn({ err: err.message }, 'postgres idle connection failed'));
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  registerDialect(db, hooks);
  let schema: string;
  try {
    if (opts.schema !== undefined) await createSchema(pool, opts.schema);
    const current = await sql<{ schema: string | null }>`select current_schema() as schema`.execute(db);
    const found = current.rows[0]?.schema;
    if (!found) throw new BulwarkError('CONFIG_INVALID', 'the PostgreSQL search_path names no existing schema: set a schema in the database URL options or the store schema');
    schema = found;
    await migrateToLatest(db, { schema, log });
  } catch (err) {
    await db.destroy();
    if (err instanceof BulwarkError) throw err;
    const message = err instanceof Error ? err.message : String(err);
    throw new BulwarkError('UNAVAILABLE', `cannot open the PostgreSQL database: ${message}`);
  }
  const notifier = new PostgresNotifier(clientConfig(opts), pool, log, schema);
  const locks = new Set<PostgresLeaderLock>();
  return {
    db,
    kind: 'postgres',
    notifier,
    leaderLock(name) {
      // Advisory locks are per database, not per schema: scope the name, or two
      // clusters in two schemas of one database would share one leader.
      const lock = new PostgresLeaderLock(`${schema}:${name}`, clientConfig(opts), log);
      locks.add(lock);
      return lock;
    },
    async close() {
      await Promise.all([...locks].map((l) => l.release()));
      await notifier.close();
      await db.destroy();
    },
  };
}
