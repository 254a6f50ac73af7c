import { createHash, randomBytes } from 'node:crypto';
import pg from 'pg';
import { BulwarkError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { LocalNotifier, assertChannel, assertPayload } from '../local-notifier.js';
import type { Notifier } from '../store.js';

const MIN_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 30_000;
const ORIGIN = /^([0-9a-f]{16}):/;

/**
 * LISTEN/NOTIFY on a client of its own (a pooled connection would lose its
 * LISTENs when returned). Messages go out tagged with this notifier's origin:
 * local subscribers get them at once from `publish`, and the copy PostgreSQL
 * sends back is recognised by its tag and dropped, so each arrives exactly once.
 */
export class PostgresNotifier implements Notifier {
  readonly #local: LocalNotifier;
  readonly #origin = randomBytes(8).toString('hex');
  readonly #config: pg.ClientConfig;
  readonly #pool: pg.Pool;
  readonly #log: Logger;
  #client: pg.Client | undefined;
  readonly #listening = new Set<string>();
  #sync: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  #backoff = MIN_BACKOFF_MS;
  #closed = false;
  /** Channels are per database, not per schema: the wire name carries a tag of the schema, so clusters sharing a database do not hear each other. */
  readonly #suffix: string;

  constructor(config: pg.ClientConfig, pool: pg.Pool, log: Logger, scope: string) {
    this.#config = config;
    this.#pool = pool;
    this.#log = log;
    this.#local = new LocalNotifier(log);
    this.#suffix = `_${createHash('sha256').update(scope).digest('hex').slice(0, 8)}`;
  }

  async publish(channel: string, payload: string): Promise<void> {
    assertChannel(channel);
    assertPayload(payload);
    await this.#pool.query('select pg_notify($1, $2)', [channel + this.#suffix, `${this.#origin}:${payload}`]);
    this.#local.deliver(channel, payload);
  }

  subscribe(channel: string, cb: (payload: string) => void): () => void {
    const unsubscribe = this.#local.subscribe(channel, cb);
    if (!this.#listening.has(channel)) void this.#ensureListening();
    return unsubscribe;
  }

  async ready(): Promise<void> {
    await this.#ensureListening();
    if (this.#local.channels().some((c) => !this.#listening.has(c))) {
      throw new BulwarkError('UNAVAILABLE', 'not listening for PostgreSQL notifications: the database is unreachable; retrying');
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#sync;
    await this.#local.close();
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => undefined);
  }

  #ensureListening(): Promise<void> {
    this.#sync = this.#sync.then(() => this.#listen()).catch((err: unknown) => this.#lost(this.#client, (err as Error).message));
    return this.#sync;
  }

  async #listen(): Promise<void> {
    if (this.#closed) return;
    let client = this.#client;
    if (!client) {
      client = this.#newClient();
      this.#client = client;
      await client.connect();
    }
    for (const channel of this.#local.channels()) {
      if (this.#listening.has(channel)) continue;
      await client.query(`listen "${channel}${this.#suffix}"`);
      this.#listening.add(channel);
    }
    this.#backoff = MIN_BACKOFF_MS;
  }

  #newClient(): pg.Client {
    const client = new pg.Client(this.#config);
    client.on('notification', (msg) => {
      if (msg.channel.endsWith(this.#suffix)) this.#receive(msg.channel.slice(0, -this.#suffix.length), msg.payload ?? '');
    });
    client.on('error', (err) => this.#lost(client, err.message));
    client.on('end', () => this.#lost(client, 'connection ended'));
    return client;
  }

  #receive(channel: string, raw: string): void {
    const tag = ORIGIN.exec(raw);
    if (tag?.[1] === this.#origin) return;
    this.#local.deliver(channel, tag ? raw.slice(tag[0].length) : raw);
  }

  #lost(client: pg.Client | undefined, reason: string): void {
    if (this.#closed || client === undefined || this.#client !== client) return;
    this.#client = undefined;
    this.#listening.clear();
    client.end().catch(() => undefined);
    const delay = this.#backoff;
    this.#backoff = Math.min(this.#backoff * 2, MAX_BACKOFF_MS);
    this.#log.warn({ reason, retryInMs: delay }, 'postgres LISTEN connection lost; notifications from other replicas are missed until it is back');
    this.#timer = setTimeout(() => void this.#ensureListening(), delay);
    this.#timer.unref();
  }
}
