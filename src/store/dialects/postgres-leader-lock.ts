import pg from 'pg';
import type { Logger } from '../../core/logger.js';
import type { LeaderLock } from '../store.js';

/**
 * A session advisory lock on a client of its own: pooled connections come and
 * go, and the lock must live exactly as long as this one session. If the process
 * dies, PostgreSQL ends the session and another replica can take over.
 */
export class PostgresLeaderLock implements LeaderLock {
  readonly #name: string;
  readonly #config: pg.ClientConfig;
  readonly #log: Logger;
  #client: pg.Client | undefined;
  #held = false;
  // Serialises acquire and release so they never interleave on the one client.
  #queue: Promise<unknown> = Promise.resolve();

  constructor(name: string, config: pg.ClientConfig, log: Logger) {
    this.#name = name;
    this.#config = config;
    this.#log = log;
  }

  get held(): boolean {
    return this.#held;
  }

  tryAcquire(): Promise<boolean> {
    const run = this.#queue.then(() => this.#tryAcquire());
    this.#queue = run.catch(() => undefined);
    return run;
  }

  release(): Promise<void> {
    const run = this.#queue.then(() => this.#release());
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #tryAcquire(): Promise<boolean> {
    if (this.#held) return true;
    try {
      const client = this.#client ?? (await this.#connect());
      const res = await client.query<{ ok: boolean }>('select pg_try_advisory_lock(hashtext($1)) as ok', [this.#name]);
      this.#held = res.rows[0]?.ok === true;
    } catch (err) {
      // Not reaching the database means not being the leader; the caller retries.
      this.#log.warn({ err: (err as Error).message, lock: this.#name }, 'leader lock unavailable');
      this.#drop();
      this.#held = false;
    }
    return this.#held;
  }

  async #release(): Promise<void> {
    const client = this.#client;
    if (!client) return;
    this.#client = undefined;
    try {
      // Unlock explicitly: the server frees a closed session's locks only once its backend has exited.
      if (this.#held) await client.query('select pg_advisory_unlock(hashtext($1))', [this.#name]);
      await client.end();
    } catch (err) {
      this.#log.warn({ err: (err as Error).message, lock: this.#name }, 'leader lock release failed; the session end frees it');
    } finally {
      this.#held = false;
    }
  }

  async #connect(): Promise<pg.Client> {
    const client = new pg.Client(this.#config);
    const lost = (reason: string) => {
      if (this.#client !== client) return;
      if (this.#held) this.#log.error({ lock: this.#name, reason }, 'leader lock lost with its database session');
      this.#client = undefined;
      this.#held = false;
    };
    client.on('error', (err) => lost(err.message));
    client.on('end', () => lost('connection ended'));
    this.#client = client;
    await client.connect();
    return client;
  }

  #drop(): void {
    const client = this.#client;
    this.#client = undefined;
    client?.end().catch(() => undefined);
  }
}
