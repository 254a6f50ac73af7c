import type { Kysely, Selectable } from 'kysely';
import { BulwarkError } from '../core/errors.js';
import { chainNext } from '../auditlog/chain.js';
import type { SignedCheckpoint } from '../auditlog/checkpoint.js';
import type { AuditDecision, AuditEntry, AuditEntryInput, AuditOutcome } from '../auditlog/entry.js';
import type { AuditEntriesTable, Database } from './database.js';
import { dialectOf } from './dialects/dialect.js';
import { getClusterState, setClusterState } from './cluster-state.js';
import { parseJson } from './json.js';
import { withTransaction } from './transaction.js';

/** The cluster_state key of the signed head: the last (seq, hash) written, signed. */
export const AUDIT_HEAD_KEY = 'audit.head';

// 12 parameters a row: well under SQLite's 32,766 and PostgreSQL's 65,535.
const INSERT_CHUNK = 500;
const PAGE = 1000;

/** Signs "after entry `seq` the chain's hash is `hash`" with the cluster's audit key. */
export type AuditSigner = (seq: number, hash: string) => { signature: string; keyId: string };

export interface AppendAuditOptions {
  sign: AuditSigner;
  /** Write a checkpoint once this many entries follow the last one. */
  checkpointEvery: number;
  /** Write a checkpoint when the oldest entry after the last one is this old. */
  checkpointIntervalMs: number;
  now: number;
}

export type AuditCheckpoint = SignedCheckpoint & { time: number };

export interface AuditListQuery {
  afterSeq?: number;
  actor?: string;
  action?: string;
  since?: number;
  until?: number;
  limit: number;
  /** The newest `limit` matches rather than the oldest (still returned ascending). */
  newest?: boolean;
}

function toEntry(row: Selectable<AuditEntriesTable>): AuditEntry {
  return {
    seq: row.seq,
    time: row.time,
    actor: row.actor,
    action: row.action,
    resource: row.resource,
    // Not checked here: a tampered value fails the hash check, which is the verifier's job.
    decision: row.decision as AuditDecision,
    source: row.source,
    requestId: row.request_id,
    outcome: row.outcome as AuditOutcome,
    details: parseJson<Record<string, unknown>>(row.details, 'audit_entries.details'),
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

function toRow(e: AuditEntry): Selectable<AuditEntriesTable> {
  return {
    seq: e.seq,
    time: e.time,
    actor: e.actor,
    action: e.action,
    resource: e.resource,
    decision: e.decision,
    source: e.source,
    request_id: e.requestId,
    outcome: e.outcome,
    details: JSON.stringify(e.details),
    prev_hash: e.prevHash,
    hash: e.hash,
  };
}

/**
 * The signed head, or undefined before the first append. A malformed value is
 * returned as one that cannot verify, so the verifier reports it rather than
 * this function throwing.
 */
export async function getAuditHead(db: Kysely<Database>): Promise<SignedCheckpoint | undefined> {
  const raw = await getClusterState(db, AUDIT_HEAD_KEY);
  if (raw === undefined) return undefined;
  let value: Partial<Record<keyof SignedCheckpoint, unknown>> = {};
  try {
    value = JSON.parse(raw) as typeof value;
  } catch {
    // falls through to the unverifiable head below
  }
  return {
    seq: typeof value.seq === 'number' ? value.seq : 0,
    hash: typeof value.hash === 'string' ? value.hash : '',
    signature: typeof value.signature === 'string' ? value.signature : '',
    keyId: typeof value.keyId === 'string' ? value.keyId : '',
  };
}

async function lastCheckpoint(db: Kysely<Database>): Promise<{ seq: number } | undefined> {
  return db.selectFrom('audit_checkpoints').select('seq').orderBy('seq', 'desc').limit(1).executeTakeFirst();
}

/** When the oldest entry not covered by a checkpoint was written; undefined when it is gone. */
async function oldestUnsignedTime(db: Kysely<Database>, checkpointSeq: number): Promise<number | undefined> {
  const row = await db.selectFrom('audit_entries').select('time').where('seq', '=', checkpointSeq + 1).executeTakeFirst();
  return row?.time;
}

/**
 * The tip to chain from. The signed head is authoritative, not the last row: a
 * truncated tail then stays a visible gap instead of its seqs being reused, and
 * rows added or rewritten behind Bulwark's back are refused rather than signed over.
 */
async function chainTip(trx: Kysely<Database>): Promise<{ seq: number; hash: string } | undefined> {
  const head = await getAuditHead(trx);
  const last = await trx.selectFrom('audit_entries').select(['seq', 'hash']).orderBy('seq', 'desc').limit(1).executeTakeFirst();
  if (last && (!head || last.seq > head.seq || (last.seq === head.seq && last.hash !== head.hash))) {
    throw new BulwarkError(
      'AUDIT_TAMPERED',
      `the audit log's last entry (seq ${last.seq}) does not match its signed head (${head ? `seq ${head.seq}` : 'none'}); run \`bulwark auditlog verify\``,
    );
  }
  return head ? { seq: head.seq, hash: head.hash } : undefined;
}

/**
 * Appends entries in one transaction: serialises with other appenders (the
 * dialect hook), chains from the signed head, inserts the rows, writes a
 * checkpoint every `checkpointEvery` entries and when the oldest unsigned entry
 * is `checkpointIntervalMs` old, and replaces the signed head. Returns the
 * entries with their seqs and hashes, in order.
 */
export async function appendAuditEntries(db: Kysely<Database>, inputs: readonly AuditEntryInput[], opts: AppendAuditOptions): Promise<AuditEntry[]> {
  if (inputs.length === 0) return [];
  if (!Number.isInteger(opts.checkpointEvery) || opts.checkpointEvery < 1) throw new BulwarkError('INTERNAL', 'checkpointEvery must be a positive integer');
  return withTransaction(db, async (trx) => {
    await dialectOf(trx).serialiseAuditAppends(trx);
    let prev = await chainTip(trx);
    const entries: AuditEntry[] = [];
    for (const input of inputs) {
      const entry = chainNext(prev, input);
      entries.push(entry);
      prev = entry;
    }
    for (let i = 0; i < entries.length; i += INSERT_CHUNK) {
      await trx
        .insertInto('audit_entries')
        .values(entries.slice(i, i + INSERT_CHUNK).map(toRow))
        .execute();
    }

    const last = entries[entries.length - 1] as AuditEntry;
    const headSig = opts.sign(last.seq, last.hash);
    let signedSeq = (await lastCheckpoint(trx))?.seq ?? 0;
    const checkpoints: AuditCheckpoint[] = [];
    const checkpointAt = (e: AuditEntry): void => {
      const sig = e === last ? headSig : opts.sign(e.seq, e.hash);
      checkpoints.push({ seq: e.seq, hash: e.hash, signature: sig.signature, keyId: sig.keyId, time: opts.now });
      signedSeq = e.seq;
    };
    for (const e of entries) if (e.seq - signedSeq >= opts.checkpointEvery) checkpointAt(e);
    if (last.seq > signedSeq) {
      // The rows are inserted already, so this finds the oldest unsigned one whether it is new or older.
      const oldest = await oldestUnsignedTime(trx, signedSeq);
      if (oldest === undefined || opts.now - oldest >= opts.checkpointIntervalMs) checkpointAt(last);
    }
    if (checkpoints.length > 0) {
      await trx
        .insertInto('audit_checkpoints')
        .values(checkpoints.map((c) => ({ seq: c.seq, hash: c.hash, signature: c.signature, key_id: c.keyId, time: c.time })))
        .execute();
    }
    const head: SignedCheckpoint = { seq: last.seq, hash: last.hash, signature: headSig.signature, keyId: headSig.keyId };
    await setClusterState(trx, AUDIT_HEAD_KEY, JSON.stringify(head), opts.now);
    return entries;
  });
}

/**
 * Writes a checkpoint at the signed head when entries after the last checkpoint
 * are `checkpointIntervalMs` old (0: whenever there are any). The head's own
 * signature becomes the checkpoint's — it signs the same statement — so nothing
 * read back from the database is ever signed afresh. True when one was written.
 */
export async function writeCheckpointIfDue(db: Kysely<Database>, opts: { checkpointIntervalMs: number; now: number }): Promise<boolean> {
  return withTransaction(db, async (trx) => {
    await dialectOf(trx).serialiseAuditAppends(trx);
    const head = await getAuditHead(trx);
    if (!head) return false;
    const signedSeq = (await lastCheckpoint(trx))?.seq ?? 0;
    if (head.seq <= signedSeq) return false;
    const oldest = await oldestUnsignedTime(trx, signedSeq);
    if (oldest !== undefined && opts.now - oldest < opts.checkpointIntervalMs) return false;
    await trx
      .insertInto('audit_checkpoints')
      .values({ seq: head.seq, hash: head.hash, signature: head.signature, key_id: head.keyId, time: opts.now })
      .execute();
    return true;
  });
}

/** Entries ascending by seq, filtered. */
export async function listAuditEntries(db: Kysely<Database>, q: AuditListQuery): Promise<AuditEntry[]> {
  let query = db.selectFrom('audit_entries').selectAll();
  if (q.afterSeq !== undefined) query = query.where('seq', '>', q.afterSeq);
  if (q.actor !== undefined) query = query.where('actor', '=', q.actor);
  if (q.action !== undefined) query = query.where('action', '=', q.action);
  if (q.since !== undefined) query = query.where('time', '>=', q.since);
  if (q.until !== undefined) query = query.where('time', '<', q.until);
  const rows = await query
    .orderBy('seq', q.newest ? 'desc' : 'asc')
    .limit(q.limit)
    .execute();
  if (q.newest) rows.reverse();
  return rows.map(toEntry);
}

/**
 * Every entry after `afterSeq` (up to `untilSeq`), ascending, a page at a time,
 * so a log of millions of entries is verified or exported in constant memory.
 * Appends commit in seq order (see `serialiseAuditAppends`), so paging by seq
 * never skips one.
 */
export async function* iterateAuditEntries(db: Kysely<Database>, opts: { afterSeq?: number; untilSeq?: number; pageSize?: number } = {}): AsyncGenerator<AuditEntry> {
  let after = opts.afterSeq ?? 0;
  const pageSize = opts.pageSize ?? PAGE;
  for (;;) {
    let query = db.selectFrom('audit_entries').selectAll().where('seq', '>', after);
    if (opts.untilSeq !== undefined) query = query.where('seq', '<=', opts.untilSeq);
    const rows = await query.orderBy('seq').limit(pageSize).execute();
    for (const row of rows) yield toEntry(row);
    const last = rows.at(-1);
    if (!last || rows.length < pageSize) return;
    after = last.seq;
  }
}

/** Every checkpoint, ascending by seq. */
export async function listCheckpoints(db: Kysely<Database>): Promise<AuditCheckpoint[]> {
  const rows = await db.selectFrom('audit_checkpoints').selectAll().orderBy('seq').execute();
  return rows.map((r) => ({ seq: r.seq, hash: r.hash, signature: r.signature, keyId: r.key_id, time: r.time }));
}
