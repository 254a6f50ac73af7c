import { mkdir, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { BulwarkError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { Database } from '../database.js';
import { LocalNotifier } from '../local-notifier.js';
import { migrateToLatest } from '../migrations/migrate.js';
import type { LeaderLock, Store } from '../store.js';
import { registerDialect, type DialectHooks } from './dialect.js';

function hooksFor(handle: SqliteDatabase.Database): DialectHooks {
  let touch: SqliteDatabase.Statement<[number, string]> | undefined;
  return {
    kind: 'sqlite',
    autoIncrementType: 'integer',
    // AUTOINCREMENT, unlike a bare rowid alias, never reuses the id of a deleted
    // last row, so an event id a client has seen is never handed out again.
    autoIncrementPrimaryKey: (col) => col.primaryKey().autoIncrement(),
    async touchLastSeen(db, entries) {
      // Kysely prepares a statement per call; 5,000 heartbeats want one statement
      // prepared once. The one SQLite connection is inside the caller's transaction,
      // so the raw handle writes within it.
      if (!db.isTransaction) throw new BulwarkError('INTERNAL', 'touchLastSeen must run inside a transaction');
      touch ??= handle.prepare('update nodes set last_seen_at = ? where id = ?');
      for (const { id, at } of entries) touch.run(at, id);
    },
    // SQLite has one writer at a time: ids commit in order already.
    serialiseEventAppends: async () => undefined,
    // The one connection runs one transaction at a time: audit appends are serial already.
    serialiseAuditAppends: async () => undefined,
  };
}

async function createPrivateFile(path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  try {
    // SQLite gives the -wal and -shm files the mode of the database file.
    const handle = await open(path, 'wx', 0o600);
    await handle.close();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}

const alwaysLeader = (): LeaderLock => {
  let held = false;
  return {
    async tryAcquire() {
      held = true;
      return true;
    },
    async release() {
      held = false;
    },
    get held() {
      return held;
    },
  };
};

/** Opens (creating if absent) a SQLite database file, or `:memory:`. */
export async function openSqlite(path: string, log: Logger): Promise<Store> {
  if (path !== ':memory:') await createPrivateFile(path);
  const handle = new SqliteDatabase(path);
  try {
    handle.pragma('journal_mode = WAL');
    // FULL fsyncs the WAL at every commit: an acknowledged write survives power loss.
    handle.pragma('synchronous = FULL');
    handle.pragma('busy_timeout = 5000');
    handle.pragma('foreign_keys = ON');
  } catch (err) {
    handle.close();
    throw err;
  }
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: handle }) });
  registerDialect(db, hooksFor(handle));
  const notifier = new LocalNotifier(log);
  try {
    await migrateToLatest(db, { log });
  } catch (err) {
    await db.destroy();
    throw err;
  }
  return {
    db,
    kind: 'sqlite',
    notifier,
    leaderLock: alwaysLeader,
    async close() {
      await notifier.close();
      await db.destroy();
    },
  };
}
