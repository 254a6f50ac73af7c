import { createPrivateKey } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import { BulwarkError, isBulwarkError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { canonicalEntryJson } from '../auditlog/chain.js';
import { signCheckpoint, type AuditKey, type SignedCheckpoint } from '../auditlog/checkpoint.js';
import { AUDIT_DECISIONS, AUDIT_OUTCOMES, redactDetails, redactTokensInText, type AuditEntry, type AuditEntryInput } from '../auditlog/entry.js';
import { formatEntry, type ExportFormat } from '../auditlog/export.js';
import { verifyAuditLog, type VerifyResult } from '../auditlog/verify.js';
import {
  appendAuditEntries,
  getAuditHead,
  iterateAuditEntries,
  listAuditEntries,
  listCheckpoints,
  writeCheckpointIfDue,
  type AuditSigner,
} from '../store/audit-log.js';
import type { Store } from '../store/open.js';

export type AuditAppendInput = Omit<AuditEntryInput, 'time'> & { time?: number };

export interface AuditQuery {
  actor?: string;
  action?: string;
  since?: number;
  until?: number;
  /** Entries after this seq, oldest first; without it, the newest `limit` entries. */
  after?: number;
  limit: number;
}

export interface AuditLogServiceOptions {
  store: Store;
  clock: Clock;
  key: AuditKey;
  log: Logger;
  /** A signed checkpoint every this many entries. Default 100. */
  checkpointEvery?: number;
  /** A signed checkpoint when entries have gone unsigned this long. Default 5 minutes. */
  checkpointIntervalMs?: number;
  /** Most entries written in one transaction. Default 500. */
  maxBatch?: number;
}

interface Pending {
  input: AuditEntryInput;
  resolve: (entry: AuditEntry) => void;
  reject: (err: BulwarkError) => void;
}

const MAX_FIELD = 1024;

/**
 * The audit log of the control plane. `append` fails closed: it resolves only
 * once the entry is committed, and rejects with AUDIT_UNAVAILABLE when it cannot
 * be, so the caller refuses the request instead of acting unrecorded. Appends
 * that arrive while a write is in flight are written together in the next
 * transaction (group commit), so concurrent requests share one commit and one
 * head signature.
 */
export class AuditLogService {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #key: AuditKey;
  readonly #sign: AuditSigner;
  readonly #checkpointEvery: number;
  readonly #checkpointIntervalMs: number;
  readonly #maxBatch: number;
  readonly #pending: Pending[] = [];
  #draining: Promise<void> | undefined;
  #closed = false;
  readonly #timer: NodeJS.Timeout;

  constructor(opts: AuditLogServiceOptions) {
    this.#store = opts.store;
    this.#clock = opts.clock;
    this.#log = opts.log;
    this.#key = opts.key;
    this.#checkpointEvery = opts.checkpointEvery ?? 100;
    this.#checkpointIntervalMs = opts.checkpointIntervalMs ?? 5 * 60_000;
    this.#maxBatch = opts.maxBatch ?? 500;
    // Parsed once: PEM parsing would otherwise cost more than the signature itself.
    // Without the private key (offline verification of a sealed cluster) the service can verify but not sign.
    const privateKey = opts.key.privateKeyPem === '' ? undefined : createPrivateKey(opts.key.privateKeyPem);
    const keyId = opts.key.keyId;
    this.#sign = (seq, hash) => {
      if (!privateKey) throw new BulwarkError('AUDIT_UNAVAILABLE', 'this audit log service was opened to verify only');
      return { signature: signCheckpoint(privateKey, { seq, hash }), keyId };
    };
    // A quiet log still gets its last entries signed within about one interval.
    const period = Math.max(1000, Math.min(this.#checkpointIntervalMs, 60_000));
    this.#timer = setInterval(() => void this.checkpointIfDue(), period);
    this.#timer.unref();
  }

  get publicKeyPem(): string {
    return this.#key.publicKeyPem;
  }

  get keyId(): string {
    return this.#key.keyId;
  }

  /**
   * Records one entry and resolves with it once committed. Secrets in `details`
   * are redacted first. Rejects with AUDIT_UNAVAILABLE when the log cannot be
   * written: the caller must then fail its request.
   */
  async append(input: AuditAppendInput): Promise<AuditEntry> {
    if (this.#closed) throw new BulwarkError('AUDIT_UNAVAILABLE', 'the audit log is closed, so the request was refused');
    const entry = this.#prepare(input);
    return new Promise<AuditEntry>((resolve, reject) => {
      this.#pending.push({ input: entry, resolve, reject });
      this.#kick();
    });
  }

  /** Entries matching `q`, oldest first. */
  list(q: AuditQuery): Promise<AuditEntry[]> {
    return listAuditEntries(this.#store.db, {
      ...(q.after === undefined ? { newest: true } : { afterSeq: q.after }),
      ...(q.actor === undefined ? {} : { actor: q.actor }),
      ...(q.action === undefined ? {} : { action: q.action }),
      ...(q.since === undefined ? {} : { since: q.since }),
      ...(q.until === undefined ? {} : { until: q.until }),
      limit: q.limit,
    });
  }

  /** Verifies the whole log in constant memory while appends go on. */
  async verify(): Promise<VerifyResult> {
    const db = this.#store.db;
    const checkpoints = await listCheckpoints(db);
    let head: SignedCheckpoint | undefined;
    let headRead = false;
    // The head is read after the entries, so it covers every entry read; entries
    // committed meanwhile up to that head are read too, later ones are not judged.
    async function* entries(): AsyncGenerator<AuditEntry> {
      let last = 0;
      for await (const e of iterateAuditEntries(db)) {
        last = e.seq;
        yield e;
      }
      head = await getAuditHead(db);
      headRead = true;
      if (head && head.seq > last) yield* iterateAuditEntries(db, { afterSeq: last, untilSeq: head.seq });
    }
    const result = await verifyAuditLog({
      entries: entries(),
      checkpoints,
      publicKeyPem: this.#key.publicKeyPem,
      head: async () => (headRead ? head : getAuditHead(db)),
      requireHead: true,
    });
    if (!result.ok) this.#log.error({ firstBad: result.firstBad }, 'audit log verification failed');
    return result;
  }

  /** Every entry as export lines (each ending in a newline), oldest first, read a page at a time. */
  async *exportLines(format: ExportFormat): AsyncGenerator<string> {
    for await (const e of iterateAuditEntries(this.#store.db)) yield `${formatEntry(e, format)}\n`;
  }

  /**
   * Writes a checkpoint when entries have gone unsigned for the interval; the
   * timer calls it, replicas race harmlessly (the store serialises them). Never throws.
   */
  async checkpointIfDue(): Promise<boolean> {
    try {
      return await writeCheckpointIfDue(this.#store.db, { checkpointIntervalMs: this.#checkpointIntervalMs, now: this.#clock.now() });
    } catch (err) {
      if (!this.#closed) this.#log.warn({ err }, 'audit checkpoint failed; the next tick retries');
      return false;
    }
  }

  /** Stops the checkpoint timer and waits for queued appends to settle. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#draining;
  }

  #prepare(input: AuditAppendInput): AuditEntryInput {
    const strings = { actor: input.actor, action: input.action, resource: input.resource, source: input.source, requestId: input.requestId };
    for (const [name, value] of Object.entries(strings)) {
      if (typeof value !== 'string' || value.length > MAX_FIELD) throw new BulwarkError('INTERNAL', `audit ${name} must be a string of at most ${MAX_FIELD} characters`);
    }
    if (!AUDIT_DECISIONS.includes(input.decision)) throw new BulwarkError('INTERNAL', `audit decision "${String(input.decision)}" is not one of ${AUDIT_DECISIONS.join(', ')}`);
    if (!AUDIT_OUTCOMES.includes(input.outcome)) throw new BulwarkError('INTERNAL', `audit outcome "${String(input.outcome)}" is not one of ${AUDIT_OUTCOMES.join(', ')}`);
    const entry: AuditEntryInput = { ...strings, resource: redactTokensInText(strings.resource), decision: input.decision, outcome: input.outcome, time: input.time ?? this.#clock.now(), details: redactDetails(input.details) };
    // Checked here, per caller: one unhashable entry must not fail the batch it would join.
    canonicalEntryJson({ ...entry, seq: 1 });
    return entry;
  }

  #kick(): void {
    if (this.#draining) return;
    // Drained one turn of the event loop later, so the appends of requests handled in the same turn share one
    // commit (on SQLite a commit completes without yielding, so without this every append would be its own fsync).
    this.#draining = new Promise((resolve) => setImmediate(resolve)).then(() => this.#drain()).finally(() => {
      this.#draining = undefined;
      // An append that arrived after the loop's last look must not wait for the next one.
      if (this.#pending.length > 0) this.#kick();
    });
  }

  async #drain(): Promise<void> {
    while (this.#pending.length > 0) {
      const batch = this.#pending.splice(0, this.#maxBatch);
      try {
        const written = await appendAuditEntries(
          this.#store.db,
          batch.map((p) => p.input),
          { sign: this.#sign, checkpointEvery: this.#checkpointEvery, checkpointIntervalMs: this.#checkpointIntervalMs, now: this.#clock.now() },
        );
        batch.forEach((p, i) => p.resolve(written[i] as AuditEntry));
      } catch (err) {
        this.#log.error({ err, entries: batch.length }, 'audit log write failed; refusing the requests it would record');
        const why = isBulwarkError(err) && err.code === 'AUDIT_TAMPERED' ? `: ${err.message}` : '';
        const failure = new BulwarkError('AUDIT_UNAVAILABLE', `the audit log cannot be written, so the request was refused${why}`);
        for (const p of batch) p.reject(failure);
      }
    }
  }
}
