import { EventEmitter } from 'node:events';
import { BulwarkError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { MAX_NOTIFY_PAYLOAD_BYTES, type Notifier } from './store.js';

// 54, not 63: PostgreSQL appends a 9-character schema tag to the name it listens on.
const CHANNEL = /^[a-z_][a-z0-9_]{0,53}$/;

export function assertChannel(channel: string): void {
  if (!CHANNEL.test(channel)) {
    throw new BulwarkError('INTERNAL', `notify channel "${channel}" is not a plain identifier ([a-z_][a-z0-9_]*, at most 54 characters)`);
  }
}

export function assertPayload(payload: string): void {
  const bytes = Buffer.byteLength(payload, 'utf8');
  if (bytes > MAX_NOTIFY_PAYLOAD_BYTES) {
    throw new BulwarkError('PAYLOAD_TOO_LARGE', `notify payload is ${bytes} bytes; the limit is ${MAX_NOTIFY_PAYLOAD_BYTES}: send an id and let receivers read the rest from the database`);
  }
}

/**
 * Delivers messages to the subscribers of this process. It is the whole notifier
 * for SQLite and the local half of the PostgreSQL one.
 */
export class LocalNotifier implements Notifier {
  readonly #emitter = new EventEmitter();
  readonly #log: Logger;

  constructor(log: Logger) {
    this.#log = log;
    // Every route and WebSocket may subscribe; the default cap of 10 would warn.
    this.#emitter.setMaxListeners(0);
  }

  async publish(channel: string, payload: string): Promise<void> {
    assertChannel(channel);
    assertPayload(payload);
    this.deliver(channel, payload);
  }

  /** Hands a message to local subscribers; a throwing subscriber must not starve the others. */
  deliver(channel: string, payload: string): void {
    for (const listener of this.#emitter.listeners(channel)) {
      try {
        (listener as (p: string) => void)(payload);
      } catch (err) {
        this.#log.error({ err, channel }, 'notify subscriber failed');
      }
    }
  }

  subscribe(channel: string, cb: (payload: string) => void): () => void {
    assertChannel(channel);
    this.#emitter.on(channel, cb);
    return () => {
      this.#emitter.off(channel, cb);
    };
  }

  channels(): string[] {
    return this.#emitter.eventNames().filter((n): n is string => typeof n === 'string' && this.#emitter.listenerCount(n) > 0);
  }

  async ready(): Promise<void> {}

  async close(): Promise<void> {
    this.#emitter.removeAllListeners();
  }
}
