import type { Kysely } from 'kysely';
import type { Database } from './database.js';

export type StoreKind = 'sqlite' | 'postgres';

/**
 * The one lock that decides which replica runs singleton jobs (schedules, expiry
 * sweeps). On PostgreSQL it is a session advisory lock, so it vanishes with the
 * process that held it; on SQLite the process owning the file is the only one.
 */
export interface LeaderLock {
  /** Takes the lock if free; true when this process holds it afterwards. */
  tryAcquire(): Promise<boolean>;
  release(): Promise<void>;
  /** False again once the lock's connection is lost: re-check before each singleton run. */
  readonly held: boolean;
}

/**
 * Cross-replica signals. Every subscriber in this process sees each published
 * message exactly once; subscribers in other processes on the same PostgreSQL
 * database see it too.
 */
export interface Notifier {
  /** `channel` is a fixed identifier (`[a-z_][a-z0-9_]*`); payload at most {@link MAX_NOTIFY_PAYLOAD_BYTES}. */
  publish(channel: string, payload: string): Promise<void>;
  /** Returns the function that unsubscribes. */
  subscribe(channel: string, cb: (payload: string) => void): () => void;
  /** Resolves once every channel subscribed so far receives messages from other processes. */
  ready(): Promise<void>;
  close(): Promise<void>;
}

/** PostgreSQL caps NOTIFY payloads below 8000 bytes; the notifier uses a few for its origin tag. */
export const MAX_NOTIFY_PAYLOAD_BYTES = 7900;

export interface Store {
  db: Kysely<Database>;
  kind: StoreKind;
  close(): Promise<void>;
  leaderLock(name: string): LeaderLock;
  notifier: Notifier;
}
