import type { Clock } from '../../core/clock.js';
import { BulwarkError } from '../../core/errors.js';
import { FailureLimiter } from '../../core/rate-limiter.js';
import { mintToken, parseToken, secretMatches } from '../../core/secret-token.js';
import type { Store } from '../../store/open.js';
import { getApiToken, insertApiToken, touchApiToken } from '../../store/api-tokens.js';
import type { Principal } from './permissions.js';

export const API_TOKEN_PREFIX = 'bwt';
/** last_used_at is written at most this often per token, so reads do not turn into writes. */
const TOUCH_EVERY_MS = 60_000;

/** Checks bearer API tokens; failed attempts are limited per source address. */
export class ApiAuth {
  readonly #limiter: FailureLimiter;
  readonly #touched = new Map<string, number>();

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {
    this.#limiter = new FailureLimiter({ maxFailures: 20, windowMs: 60_000, clock });
  }

  async authenticate(header: string | undefined, source: string): Promise<Principal> {
    const wait = this.#limiter.retryAfter(source);
    if (wait > 0) throw new BulwarkError('RATE_LIMITED', `too many failed logins from ${source}; retry in ${Math.ceil(wait / 1000)} s`, { retryAfterMs: wait });
    if (header === undefined || !header.startsWith('Bearer ')) {
      throw new BulwarkError('UNAUTHENTICATED', 'missing credentials: send "Authorization: Bearer <token>" (the admin token is in the data directory)');
    }
    const parsed = parseToken(API_TOKEN_PREFIX, header.slice('Bearer '.length).trim());
    const record = parsed ? await getApiToken(this.store.db, parsed.id) : undefined;
    const now = this.clock.now();
    if (
      parsed === undefined ||
      record === undefined ||
      !secretMatches(parsed.secret, record.secretHash) ||
      record.revokedAt !== null ||
      (record.expiresAt !== null && record.expiresAt <= now)
    ) {
      this.#limiter.fail(source);
      throw new BulwarkError('UNAUTHENTICATED', 'the API token is invalid, expired or revoked');
    }
    if (now - (this.#touched.get(record.id) ?? 0) > TOUCH_EVERY_MS) {
      this.#touched.set(record.id, now);
      await touchApiToken(this.store.db, record.id, now);
    }
    return { kind: 'api-token', id: record.id, name: record.name, role: record.role };
  }
}

/** Creates an API token; the raw token is returned once and stored only as a hash. */
export async function createApiToken(store: Store, clock: Clock, opts: { name: string; role: string; ttlMs?: number }): Promise<string> {
  const minted = mintToken(API_TOKEN_PREFIX);
  const now = clock.now();
  await insertApiToken(store.db, {
    id: minted.id,
    secretHash: minted.secretHash,
    name: opts.name,
    role: opts.role,
    createdAt: now,
    expiresAt: opts.ttlMs === undefined ? null : now + opts.ttlMs,
    lastUsedAt: null,
    revokedAt: null,
  });
  return minted.token;
}
