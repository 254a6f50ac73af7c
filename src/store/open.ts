import { silentLogger, type Logger } from '../core/logger.js';
import { openPostgres } from './dialects/postgres.js';
import { openSqlite } from './dialects/sqlite.js';
import type { Store } from './store.js';

export type { LeaderLock, Notifier, Store, StoreKind } from './store.js';
export { MAX_NOTIFY_PAYLOAD_BYTES } from './store.js';

export interface OpenStoreOptions {
  /** A SQLite file path, `sqlite:PATH`, `:memory:`, or a `postgres://` / `postgresql://` URL. */
  url: string;
  /** PostgreSQL only: the schema to use (created if absent) instead of the search_path default. */
  schema?: string;
  logger?: Logger;
}

/**
 * Opens the database and migrates it to the latest schema.
 *
 * @example
 * const store = await openStore({ url: 'sqlite:/var/lib/bulwark/bulwark.db' });
 */
export async function openStore(opts: OpenStoreOptions): Promise<Store> {
  const log = opts.logger ?? silentLogger;
  if (/^postgres(ql)?:\/\//i.test(opts.url)) {
    return openPostgres({ url: opts.url, log, ...(opts.schema === undefined ? {} : { schema: opts.schema }) });
  }
  const path = opts.url.startsWith('sqlite:') ? opts.url.slice('sqlite:'.length) : opts.url;
  return openSqlite(path, log);
}
