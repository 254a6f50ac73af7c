import type { ColumnDefinitionBuilder, Kysely } from 'kysely';
import type { Database } from '../database.js';
import type { StoreKind } from '../store.js';
import { BulwarkError } from '../../core/errors.js';

/**
 * The few places where SQLite and PostgreSQL need different SQL. Repositories and
 * migrations reach them through {@link dialectOf}; nothing outside `dialects/`
 * imports a concrete dialect.
 */
export interface DialectHooks {
  readonly kind: StoreKind;
  /** The column type and modifiers of an auto-incrementing 64-bit primary key. */
  readonly autoIncrementType: 'integer' | 'bigint';
  autoIncrementPrimaryKey(col: ColumnDefinitionBuilder): ColumnDefinitionBuilder;
  /** Sets `last_seen_at` of many nodes; the caller provides the transaction. */
  touchLastSeen(db: Kysely<Database>, entries: readonly { id: string; at: number }[]): Promise<void>;
  /**
   * Makes event appends of concurrent transactions commit in id order, so a
   * reader that resumes after the last id it saw never skips a late commit.
   * Runs inside the appending transaction.
   */
  serialiseEventAppends(trx: Kysely<Database>): Promise<void>;
  /**
   * Makes audit-log appends of concurrent transactions (and replicas) run one
   * after another: each reads the chain's tip, then writes the next seq, so two
   * at once would fork the chain. Runs inside the appending transaction and holds
   * until it ends.
   */
  serialiseAuditAppends(trx: Kysely<Database>): Promise<void>;
}

// Keyed by the adapter because transactions and plugin-wrapped instances are new
// Kysely objects that share their parent's adapter.
const registry = new WeakMap<object, DialectHooks>();

/** Anything Kysely-shaped: `Kysely<Database>`, a transaction, or the `Kysely<any>` of a migration. */
export interface HasExecutor {
  getExecutor(): { readonly adapter: object };
}

export function registerDialect(db: HasExecutor, hooks: DialectHooks): void {
  registry.set(db.getExecutor().adapter, hooks);
}

export function dialectOf(db: HasExecutor): DialectHooks {
  const hooks = registry.get(db.getExecutor().adapter);
  if (!hooks) throw new BulwarkError('INTERNAL', 'this Kysely instance was not opened by openStore');
  return hooks;
}
