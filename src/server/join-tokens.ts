import type { Clock } from '../core/clock.js';
import { BulwarkError } from '../core/errors.js';
import { assertLabels, type Labels } from '../core/labels.js';
import { mintToken, parseToken, secretMatches } from '../core/secret-token.js';
import type { Store } from '../store/open.js';
import {
  consumeJoinTokenUse,
  getJoinToken,
  insertJoinToken,
  listJoinTokens,
  revokeJoinToken,
  type JoinTokenRecord,
} from '../store/join-tokens.js';
import type { EventLog } from './event-log.js';

export const JOIN_TOKEN_PREFIX = 'bwj';

export interface CreateJoinTokenInput {
  ttlMs: number;
  uses: number;
  labels: Labels;
  description?: string | undefined;
  createdBy: string;
}

export class JoinTokenService {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #events: EventLog;

  constructor(store: Store, clock: Clock, events: EventLog) {
    this.#store = store;
    this.#clock = clock;
    this.#events = events;
  }

  async create(input: CreateJoinTokenInput): Promise<{ record: JoinTokenRecord; token: string }> {
    assertLabels(input.labels);
    const minted = mintToken(JOIN_TOKEN_PREFIX);
    const now = this.#clock.now();
    const record: JoinTokenRecord = {
      id: minted.id,
      secretHash: minted.secretHash,
      labels: input.labels,
      usesAllowed: input.uses,
      usesCount: 0,
      expiresAt: now + input.ttlMs,
      createdAt: now,
      createdBy: input.createdBy,
      revokedAt: null,
      description: input.description ?? null,
    };
    await insertJoinToken(this.#store.db, record);
    await this.#events.append('token.created', null, { tokenId: record.id, uses: record.usesAllowed, expiresAt: record.expiresAt, labels: record.labels });
    return { record, token: minted.token };
  }

  list(includeInactive: boolean): Promise<JoinTokenRecord[]> {
    return listJoinTokens(this.#store.db, { includeInactive, now: this.#clock.now() });
  }

  async revoke(id: string): Promise<void> {
    const found = await getJoinToken(this.#store.db, id);
    if (found === undefined) throw new BulwarkError('NOT_FOUND', `join token ${id} does not exist; list them with \`bulwark token ls\``);
    if (await revokeJoinToken(this.#store.db, id, this.#clock.now())) {
      await this.#events.append('token.revoked', null, { tokenId: id });
    }
  }

  /**
   * Checks a presented join token and spends one use of it. The use is taken by one
   * conditional UPDATE, so a single-use token wins exactly one race however many
   * joins arrive at once.
   */
  async redeem(token: string): Promise<JoinTokenRecord> {
    const parsed = parseToken(JOIN_TOKEN_PREFIX, token);
    const record = parsed ? await getJoinToken(this.#store.db, parsed.id) : undefined;
    if (parsed === undefined || record === undefined || !secretMatches(parsed.secret, record.secretHash)) {
      throw new BulwarkError('TOKEN_INVALID', 'the join token is not valid: check it was copied whole, or create a new one with `bulwark token create`');
    }
    const now = this.#clock.now();
    if (record.revokedAt !== null) throw new BulwarkError('TOKEN_INVALID', 'the join token was revoked; create a new one with `bulwark token create`');
    if (record.expiresAt <= now) throw new BulwarkError('TOKEN_EXPIRED', 'the join token has expired; create a new one with `bulwark token create`');
    if (record.usesCount >= record.usesAllowed || !(await consumeJoinTokenUse(this.#store.db, record.id, now))) {
      throw new BulwarkError('TOKEN_USED_UP', 'the join token has been used up; create a new one with `bulwark token create --uses N`');
    }
    return record;
  }
}
