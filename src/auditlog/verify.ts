import { createPublicKey, type KeyObject } from 'node:crypto';
import { auditKeyId, verifyCheckpoint, type SignedCheckpoint } from './checkpoint.js';
import { entryHash, GENESIS_HASH, hashAtSeq, isHexHash } from './chain.js';
import type { AuditEntry } from './entry.js';

export type TamperKind = 'modified' | 'deleted' | 'inserted' | 'reordered' | 'truncated' | 'bad-checkpoint';

export interface FirstBad {
  /** The lowest seq at which the log differs from what was written. */
  seq: number;
  kind: TamperKind;
  message: string;
}

export type VerifyResult = { ok: true; entries: number; checkpoints: number; lastSeq: number } | { ok: false; firstBad: FirstBad };

export interface VerifyOptions {
  /** Every entry, ascending by seq (as the store yields them). */
  entries: Iterable<AuditEntry> | AsyncIterable<AuditEntry>;
  checkpoints: readonly SignedCheckpoint[];
  publicKeyPem: string;
  /**
   * The signed head: the last (seq, hash) the writer committed. A function is
   * called only after the entries are consumed, so a log that grows while it
   * is read is judged against a head at least as new as every entry read.
   */
  head?: SignedCheckpoint | undefined | (() => Promise<SignedCheckpoint | undefined>);
  /** A non-empty log without a head fails (the head row was removed). Default true when `head` is given as a function. */
  requireHead?: boolean;
}

// How many recent entry hashes are remembered, to compare a head that lies
// behind the last entry with the entry it names.
const RECENT = 4096;
// How far past every known seq the verifier looks for the seq a misplaced entry was written at.
const SEARCH_MARGIN = 1000;

type Lookahead = { cur: AuditEntry | undefined; nxt: AuditEntry | undefined };

function wellFormed(e: AuditEntry): boolean {
  return Number.isSafeInteger(e.seq) && isHexHash(e.prevHash) && isHexHash(e.hash);
}

/** True when `e`'s stored hash is the hash of its content at `seq` with its own prevHash. */
function hashesAt(e: AuditEntry, seq: number): boolean {
  if (!wellFormed(e)) return false;
  try {
    return seq === e.seq ? entryHash(e.prevHash, { ...e, seq }) === e.hash : hashAtSeq(e.prevHash, e)(seq) === e.hash;
  } catch {
    // Content the canonical form cannot express was not written by the chain.
    return false;
  }
}

/** The seq `e` was originally written at, if it is within [1, upper] and not `at`. Nearest first. */
function originalSeq(e: AuditEntry, at: number, upper: number): number | undefined {
  if (!wellFormed(e)) return undefined;
  let at_: (seq: number) => string;
  try {
    at_ = hashAtSeq(e.prevHash, e);
  } catch {
    return undefined;
  }
  for (let d = 1; at + d <= upper || at - d >= 1; d++) {
    if (at + d <= upper && at_(at + d) === e.hash) return at + d;
    if (at - d >= 1 && at_(at - d) === e.hash) return at - d;
  }
  return undefined;
}

const bad = (seq: number, kind: TamperKind, message: string): { ok: false; firstBad: FirstBad } => ({ ok: false, firstBad: { seq, kind, message } });

/**
 * Checks the hash chain, the signed checkpoints and the signed head, and names
 * the first entry that is not as written.
 *
 * Every entry commits to its seq, its content and the hash of the entry before
 * it, so each entry `e` found where seq `s` is expected (after the accepted
 * entry `tip`, with `n` the entry after `e`) is judged like this:
 *
 * - `e.seq > s` (a gap): entries s… were **deleted**.
 * - `e.seq == tip.seq`: a second entry with one seq was **inserted**; `e.seq < tip.seq`: **reordered**.
 * - `e` hashes correctly at `s` and links to `tip`: it is accepted, unless `n`
 *   shows otherwise: `n` links to `tip` as well and hashes correctly one seq
 *   lower, so `n` was entry `s` and `e` was **inserted** before it; or `n` hashes
 *   correctly but links elsewhere, so `e` was **modified** and its hash recomputed.
 * - `e` does not hash correctly at `s`:
 *   - `e` hashes correctly at another seq `s'` (searched nearest first): it was moved.
 *     `s' > s` and the entry it links to appears later: **reordered**; `s' > s` and
 *     that entry is nowhere: entries were **deleted** and the rest renumbered;
 *     `s' < s`: entries were **inserted** before it.
 *   - else, `n` links to `tip` and hashes correctly at `s`: `e` is a forged row
 *     **inserted** before the real entry `s` (checked after the search, since a
 *     swap of `e` and `n` looks the same from `n`).
 *   - otherwise a field (or a hash) was **modified**.
 * - `e` hashes correctly but does not link to `tip` (only possible for the first
 *   entry, as `tip`'s own check looked at `e`): **modified**.
 *
 * A signed checkpoint or head whose signature fails is a **bad-checkpoint** at
 * its seq. One whose hash differs from the entry at its seq means entries were
 * rewritten with recomputed hashes somewhere after the previous good checkpoint:
 * the chain alone cannot tell where, so the first entry after that checkpoint is
 * named (the earliest that may be bad). A chain cannot show that its tail was
 * cut, so the writer signs the head in the transaction of every append: a head
 * or checkpoint beyond the last entry is **truncated** at the seq after it, and
 * entries beyond the head were **inserted**. (An attacker with database access
 * could put back an older signed head along with the truncation; exported
 * checkpoints held elsewhere catch that.)
 */
export async function verifyAuditLog(opts: VerifyOptions): Promise<VerifyResult> {
  const key: KeyObject = createPublicKey(opts.publicKeyPem);
  const keyId = auditKeyId(key);
  const checkpoints = [...opts.checkpoints].sort((a, b) => a.seq - b.seq);
  const iterator: AsyncIterator<AuditEntry> | Iterator<AuditEntry> =
    Symbol.asyncIterator in opts.entries ? opts.entries[Symbol.asyncIterator]() : (opts.entries as Iterable<AuditEntry>)[Symbol.iterator]();
  const pull = async (): Promise<AuditEntry | undefined> => {
    const r = await iterator.next();
    return r.done ? undefined : r.value;
  };
  let headValue: SignedCheckpoint | undefined;
  let headRead = false;
  const readHead = async (): Promise<SignedCheckpoint | undefined> => {
    if (!headRead) {
      headValue = typeof opts.head === 'function' ? await opts.head() : opts.head;
      headRead = true;
    }
    return headValue;
  };
  const requireHead = opts.requireHead ?? typeof opts.head === 'function';
  const signed = (cp: SignedCheckpoint): boolean => verifyCheckpoint(key, cp);
  const whyUnsigned = (cp: SignedCheckpoint, what: string): string =>
    `the signature of the ${what} at seq ${cp.seq} does not verify${cp.keyId === keyId ? '' : ` (it names key ${cp.keyId}, the audit key is ${keyId})`}`;

  for (const cp of checkpoints) {
    if (!Number.isSafeInteger(cp.seq) || cp.seq < 1) return bad(cp.seq, 'bad-checkpoint', `a checkpoint has the invalid seq ${cp.seq}`);
  }

  const recent = new Map<number, string>();
  let tip = { seq: 0, hash: GENESIS_HASH };
  let lastGoodCheckpoint = 0;
  let cpIndex = 0;
  let count = 0;
  const look: Lookahead = { cur: await pull(), nxt: undefined };
  look.nxt = look.cur ? await pull() : undefined;

  const searchUpper = async (e: AuditEntry): Promise<number> => {
    const head = await readHead();
    return Math.max(e.seq, head?.seq ?? 0, checkpoints.at(-1)?.seq ?? 0) + SEARCH_MARGIN;
  };
  /** Whether some entry after `e` has hash `hash` (consumes the rest of the stream). */
  const appearsLater = async (hash: string): Promise<boolean> => {
    for (let e = look.nxt; e; e = await pull()) if (e.hash === hash) return true;
    return false;
  };

  while (look.cur) {
    const e = look.cur;
    const n = look.nxt;
    const s = tip.seq + 1;
    if (!Number.isSafeInteger(e.seq)) return bad(s, 'modified', `the entry after seq ${tip.seq} has the invalid seq ${String(e.seq)}`);
    if (e.seq === tip.seq && tip.seq > 0) return bad(e.seq, 'inserted', `seq ${e.seq} appears twice`);
    if (e.seq < s) return bad(e.seq, 'reordered', `seq ${e.seq} appears after seq ${tip.seq}`);
    if (e.seq > s) {
      return bad(s, 'deleted', e.seq === s + 1 ? `entry ${s} is missing` : `entries ${s} to ${e.seq - 1} are missing`);
    }
    const selfOk = hashesAt(e, s);
    if (selfOk && e.prevHash === tip.hash) {
      if (n && n.seq === s + 1 && n.prevHash !== e.hash) {
        if (n.prevHash === e.prevHash && hashesAt(n, s)) {
          return bad(s, 'inserted', `entry ${s} is not part of the chain: the entry now at seq ${s + 1} was written as seq ${s}`);
        }
        if (hashesAt(n, s + 1)) return bad(s, 'modified', `entry ${s} was changed and its hash recomputed: entry ${s + 1} was chained to a different entry ${s}`);
      }
    } else if (selfOk) {
      return bad(s, 'modified', `entry ${s} does not link to ${s === 1 ? 'the start of the log' : `entry ${s - 1}`}`);
    } else {
      const was = originalSeq(e, s, await searchUpper(e));
      if (was === undefined) {
        if (n && n.seq === s + 1 && n.prevHash === tip.hash && hashesAt(n, s)) {
          return bad(s, 'inserted', `entry ${s} is not part of the chain: the entry now at seq ${s + 1} was written as seq ${s}`);
        }
        return bad(s, 'modified', `entry ${s} does not match its hash: a field was changed`);
      }
      if (was < s) return bad(was, 'inserted', `the entry written as seq ${was} now sits at seq ${s}: ${s - was} entr${s - was === 1 ? 'y was' : 'ies were'} inserted before it`);
      if (await appearsLater(e.prevHash)) return bad(s, 'reordered', `the entry at seq ${s} was written as seq ${was}: entries were reordered`);
      return bad(s, 'deleted', `the entry at seq ${s} was written as seq ${was}: ${was === s + 1 ? `entry ${s} was` : `entries ${s} to ${was - 1} were`} deleted and later entries renumbered`);
    }
    // Accepted. Checkpoints at this seq must be signed and name this hash.
    for (let cp = checkpoints[cpIndex]; cp && cp.seq <= s; cp = checkpoints[++cpIndex]) {
      if (!signed(cp)) return bad(cp.seq, 'bad-checkpoint', whyUnsigned(cp, 'checkpoint'));
      if (cp.hash !== e.hash) {
        return bad(lastGoodCheckpoint + 1, 'modified', `the chain differs from the signed checkpoint at seq ${cp.seq}: entries ${lastGoodCheckpoint + 1} to ${cp.seq} were rewritten with recomputed hashes`);
      }
      lastGoodCheckpoint = cp.seq;
    }
    tip = { seq: s, hash: e.hash };
    recent.set(s, e.hash);
    recent.delete(s - RECENT);
    count++;
    look.cur = n;
    look.nxt = n ? await pull() : undefined;
  }

  const lastSeq = tip.seq;
  const beyond = checkpoints[cpIndex];
  if (beyond) {
    if (!signed(beyond)) return bad(beyond.seq, 'bad-checkpoint', whyUnsigned(beyond, 'checkpoint'));
    return bad(lastSeq + 1, 'truncated', `the log ends at seq ${lastSeq} but a signed checkpoint names seq ${beyond.seq}: the entries after ${lastSeq} were removed`);
  }
  const head = await readHead();
  if (!head) {
    if (requireHead && lastSeq > 0) return bad(lastSeq, 'bad-checkpoint', 'the signed head of the log is missing, so its end cannot be checked');
  } else {
    if (!signed(head)) return bad(head.seq, 'bad-checkpoint', whyUnsigned(head, 'signed head'));
    if (head.seq > lastSeq) {
      return bad(lastSeq + 1, 'truncated', `the log ends at seq ${lastSeq} but its signed head names seq ${head.seq}: the entries after ${lastSeq} were removed`);
    }
    const atHead = recent.get(head.seq);
    if (atHead !== undefined && atHead !== head.hash) {
      return bad(lastGoodCheckpoint + 1, 'modified', `the chain differs from the signed head at seq ${head.seq}: entries ${lastGoodCheckpoint + 1} to ${head.seq} were rewritten with recomputed hashes`);
    }
    if (head.seq < lastSeq) {
      return bad(head.seq + 1, 'inserted', `the signed head names seq ${head.seq} but the log goes on to seq ${lastSeq}: entries after ${head.seq} were added outside Bulwark`);
    }
  }
  return { ok: true, entries: count, checkpoints: checkpoints.length, lastSeq };
}
