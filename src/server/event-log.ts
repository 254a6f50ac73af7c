import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { Store } from '../store/open.js';
import { appendEvent, lastEventId, listEvents, type EventRecord } from '../store/events.js';

const CHANNEL = 'bulwark_events';

export interface EventQuery {
  afterId?: number;
  nodeId?: string;
  type?: string;
  limit: number;
}

/**
 * Every join, renewal, removal and state change becomes an event row. Readers can
 * long-poll for new rows: a NOTIFY (or the in-process notifier on SQLite) wakes
 * them at once, and a slow poll covers a missed notification.
 */
export class EventLog {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #waiters = new Set<() => void>();
  readonly #unsubscribe: () => void;

  constructor(store: Store, clock: Clock, log: Logger) {
    this.#store = store;
    this.#clock = clock;
    this.#log = log;
    this.#unsubscribe = store.notifier.subscribe(CHANNEL, () => this.#wake());
  }

  async append(type: string, nodeId: string | null, details: Record<string, unknown> = {}): Promise<number> {
    const id = await appendEvent(this.#store.db, { time: this.#clock.now(), type, nodeId, details });
    this.#log.info({ event: type, nodeId, ...details }, 'event');
    await this.#store.notifier.publish(CHANNEL, String(id)).catch((err: unknown) => {
      this.#log.warn({ err }, 'event notification failed; waiters fall back to polling');
    });
    return id;
  }

  list(query: EventQuery): Promise<EventRecord[]> {
    return listEvents(this.#store.db, query);
  }

  lastId(): Promise<number> {
    return lastEventId(this.#store.db);
  }

  /** Lists events after `query.afterId`, waiting up to `waitMs` for the first one to arrive. */
  async listOrWait(query: EventQuery, waitMs: number, signal?: AbortSignal): Promise<EventRecord[]> {
    const deadline = this.#clock.now() + waitMs;
    for (;;) {
      const events = await this.list(query);
      const remaining = deadline - this.#clock.now();
      if (events.length > 0 || remaining <= 0 || signal?.aborted) return events;
      await this.#sleepUntilWoken(Math.min(remaining, 1000), signal);
    }
  }

  #sleepUntilWoken(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#waiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#waiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  #wake(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }

  close(): void {
    this.#unsubscribe();
    this.#wake();
  }
}
