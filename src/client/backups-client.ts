import { z } from 'zod';
import { BulwarkError, isErrorCode } from '../core/errors.js';
import {
  BackupStreamEventSchema,
  DrillListSchema,
  DrillViewSchema,
  PolicyListSchema,
  PolicyViewSchema,
  RestoreOutcomeSchema,
  RunListSchema,
  RunNowOutcomeSchema,
  StatusListSchema,
  type DrillInput,
  type PolicyInput,
  type RestoreInput,
  type RunNowInput,
} from '../protocol/backup.js';
import type { ApiClient } from './api-client.js';

/** Silence tolerated on a long operation's stream: the server writes a line every 10 s. */
const STREAM_SILENCE_MS = 90_000;

type Optional<T, K extends keyof T> = Omit<T, K> & Partial<Pick<T, K>>;

/** The fleet backup calls of the API, over an `ApiClient`. */
export class BackupsClient {
  constructor(private readonly api: ApiClient) {}

  setPolicy(name: string, body: Optional<PolicyInput, 'excludes' | 'tags' | 'prune' | 'drillSample'>) {
    return this.api.call('PUT', `/v1/backups/policies/${encodeURIComponent(name)}`, PolicyViewSchema, { body });
  }

  listPolicies() {
    return this.api.call('GET', '/v1/backups/policies', PolicyListSchema);
  }

  getPolicy(name: string) {
    return this.api.call('GET', `/v1/backups/policies/${encodeURIComponent(name)}`, PolicyViewSchema);
  }

  async removePolicy(name: string): Promise<void> {
    await this.api.call('DELETE', `/v1/backups/policies/${encodeURIComponent(name)}`, z.unknown());
  }

  status(query: { selector?: string; policy?: string } = {}) {
    return this.api.call('GET', '/v1/backups/status', StatusListSchema, { query });
  }

  runs(query: { node?: string; policy?: string; limit?: number } = {}) {
    return this.api.call('GET', '/v1/backups/runs', RunListSchema, { query });
  }

  drills(query: { node?: string; policy?: string; limit?: number } = {}) {
    return this.api.call('GET', '/v1/backups/drills', DrillListSchema, { query });
  }

  /** Runs a policy's backup now; with `wait` (default) answers once every node reported. */
  runNow(name: string, body: Partial<RunNowInput>) {
    return this.#await(`/v1/backups/policies/${encodeURIComponent(name)}/run`, body, RunNowOutcomeSchema);
  }

  /** Restores on a node through its agent; answers when the restore ended. */
  restore(body: Optional<RestoreInput, 'snapshot' | 'include' | 'timeoutSeconds'>) {
    return this.#await('/v1/backups/restore', body, RestoreOutcomeSchema);
  }

  /** A recovery drill on a node; answers with the drill as recorded (a failed drill is an answer too). */
  drill(body: Optional<DrillInput, 'timeoutSeconds'>) {
    return this.#await('/v1/backups/drills', body, DrillViewSchema);
  }

  /** Reads a long operation's NDJSON answer: waits through `waiting` lines, returns the `result`, throws the `error`. */
  async #await<S extends z.ZodType>(path: string, body: unknown, schema: S): Promise<z.output<S>> {
    for await (const raw of this.api.stream('POST', path, body, { timeoutMs: STREAM_SILENCE_MS })) {
      const event = BackupStreamEventSchema.safeParse(raw);
      if (!event.success) throw new BulwarkError('INTERNAL', `an event of POST ${path} does not match this client's protocol version`);
      if (event.data.type === 'waiting') continue;
      if (event.data.type === 'error') throw new BulwarkError(isErrorCode(event.data.code) ? event.data.code : 'INTERNAL', event.data.message);
      const parsed = schema.safeParse(event.data.result);
      if (!parsed.success) throw new BulwarkError('INTERNAL', `the server's answer to POST ${path} does not match this client's protocol version`);
      return parsed.data;
    }
    throw new BulwarkError('UNREACHABLE', `the answer to POST ${path} ended before the outcome: it is unknown (see \`bulwark backup runs\` or \`bulwark drill ls\`)`);
  }
}
