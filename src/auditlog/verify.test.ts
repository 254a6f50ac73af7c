import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chainNext, entryHash } from './chain.js';
import { generateAuditKey, signCheckpoint, type SignedCheckpoint } from './checkpoint.js';
import type { AuditEntry, AuditEntryInput } from './entry.js';
import { verifyAuditLog, type TamperKind, type VerifyOptions } from './verify.js';

const key = generateAuditKey();

const input = (i: number): AuditEntryInput => ({
  time: 1_700_000_000_000 + i * 1000,
  actor: `user:u${i % 7}`,
  action: i % 3 === 0 ? 'nodes.delete' : 'nodes.list',
  resource: `nodes/n${i}`,
  decision: i % 5 === 0 ? 'deny' : 'allow',
  source: '127.0.0.1',
  requestId: `r${i}`,
  outcome: 'success',
  details: { i },
});

const sign = (seq: number, hash: string): SignedCheckpoint => ({ seq, hash, signature: signCheckpoint(key.privateKeyPem, { seq, hash }), keyId: key.keyId });

/** A log of `n` entries with a checkpoint every `every` and a signed head. */
function makeLog(n: number, every = 10): { entries: AuditEntry[]; checkpoints: SignedCheckpoint[]; head: SignedCheckpoint | undefined } {
  const entries: AuditEntry[] = [];
  let prev: AuditEntry | undefined;
  for (let i = 1; i <= n; i++) entries.push((prev = chainNext(prev, input(i))));
  const checkpoints = entries.filter((e) => e.seq % every === 0).map((e) => sign(e.seq, e.hash));
  return { entries, checkpoints, head: prev ? sign(prev.seq, prev.hash) : undefined };
}

const run = (log: { entries: AuditEntry[]; checkpoints: SignedCheckpoint[]; head: SignedCheckpoint | undefined }, extra: Partial<VerifyOptions> = {}) =>
  verifyAuditLog({ entries: log.entries, checkpoints: log.checkpoints, head: log.head, publicKeyPem: key.publicKeyPem, ...extra });

async function assertBad(log: Parameters<typeof run>[0], seq: number, kind: TamperKind): Promise<void> {
  const result = await run(log);
  assert.equal(result.ok, false, 'tampering went unnoticed');
  if (!result.ok) assert.deepEqual({ seq: result.firstBad.seq, kind: result.firstBad.kind }, { seq, kind }, result.firstBad.message);
}

/** Renumbers entries as someone with SQL access would: only the seq column changes. */
const renumber = (entries: AuditEntry[], from: number, by: number): AuditEntry[] => entries.map((e) => (e.seq >= from ? { ...e, seq: e.seq + by } : e));

describe('verifyAuditLog', () => {
  it('accepts an intact log, an empty one, and one read as an async stream', async () => {
    const log = makeLog(95);
    assert.deepEqual(await run(log), { ok: true, entries: 95, checkpoints: 9, lastSeq: 95 });
    assert.deepEqual(await run({ entries: [], checkpoints: [], head: undefined }), { ok: true, entries: 0, checkpoints: 0, lastSeq: 0 });
    async function* stream(): AsyncGenerator<AuditEntry> {
      yield* log.entries;
    }
    assert.equal((await run(log, { entries: stream(), head: async () => log.head })).ok, true);
  });

  for (const field of ['actor', 'action', 'resource', 'decision', 'source', 'requestId', 'outcome', 'time', 'details', 'prevHash', 'hash'] as const) {
    it(`names a change to ${field} of entry 37 as modified at 37`, async () => {
      const log = makeLog(60);
      const e = log.entries[36] as AuditEntry;
      const changed: AuditEntry = {
        ...e,
        ...(field === 'time' ? { time: e.time + 1 } : field === 'details' ? { details: { i: 0 } } : field === 'decision' ? { decision: 'deny' } : { [field]: field.endsWith('Hash') || field === 'hash' ? 'f'.repeat(64) : 'x' }),
      };
      log.entries[36] = changed;
      await assertBad(log, 37, 'modified');
    });
  }

  it('names a change with a recomputed hash as modified at that entry', async () => {
    const log = makeLog(60);
    const e = log.entries[36] as AuditEntry;
    const forged = { ...e, actor: 'user:nobody' };
    log.entries[36] = { ...forged, hash: entryHash(forged.prevHash, forged) };
    await assertBad(log, 37, 'modified');
  });

  it('names a rewrite of a whole stretch (hashes recomputed) from the last good checkpoint', async () => {
    const log = makeLog(60);
    let prev: AuditEntry = log.entries[33] as AuditEntry;
    for (let i = 34; i < 60; i++) {
      const changed = { ...(log.entries[i] as AuditEntry), actor: i === 35 ? 'user:nobody' : (log.entries[i] as AuditEntry).actor };
      prev = chainNext(prev, changed);
      log.entries[i] = prev;
    }
    await assertBad(log, 31, 'modified');
  });

  it('names a deleted entry, and deleted entries with the rest renumbered', async () => {
    const log = makeLog(60);
    await assertBad({ ...log, entries: log.entries.filter((e) => e.seq !== 37) }, 37, 'deleted');
    await assertBad({ ...log, entries: log.entries.filter((e) => e.seq < 37 || e.seq > 40) }, 37, 'deleted');
    await assertBad({ ...log, entries: renumber(log.entries.filter((e) => e.seq !== 37), 38, -1) }, 37, 'deleted');
    await assertBad({ ...log, entries: log.entries.slice(1) }, 1, 'deleted');
  });

  it('names an inserted entry: appended past the head, or forged in the middle with the rest shifted', async () => {
    const log = makeLog(60);
    const tail = log.entries.at(-1) as AuditEntry;
    await assertBad({ ...log, entries: [...log.entries, chainNext(tail, input(999))] }, 61, 'inserted');

    const shifted = renumber(log.entries, 37, 1);
    const before = log.entries[35] as AuditEntry;
    const crafted = chainNext(before, input(999));
    await assertBad({ ...log, entries: [...shifted.slice(0, 36), crafted, ...shifted.slice(36)] }, 37, 'inserted');
    const garbage: AuditEntry = { ...crafted, hash: 'e'.repeat(64) };
    await assertBad({ ...log, entries: [...shifted.slice(0, 36), garbage, ...shifted.slice(36)] }, 37, 'inserted');
  });

  it('names reordered entries: adjacent and distant swaps', async () => {
    const log = makeLog(60);
    const swap = (a: number, b: number): AuditEntry[] =>
      log.entries.map((e) => (e.seq === a ? { ...e, seq: b } : e.seq === b ? { ...e, seq: a } : e)).sort((x, y) => x.seq - y.seq);
    await assertBad({ ...log, entries: swap(37, 38) }, 37, 'reordered');
    await assertBad({ ...log, entries: swap(37, 52) }, 37, 'reordered');
    await assertBad({ ...log, entries: swap(1, 2) }, 1, 'reordered');
  });

  it('names a truncated tail after the last checkpoint by the signed head, and before it by the checkpoint', async () => {
    const log = makeLog(65);
    await assertBad({ ...log, entries: log.entries.slice(0, 62) }, 63, 'truncated');
    await assertBad({ ...log, entries: log.entries.slice(0, 55) }, 56, 'truncated');
    await assertBad({ ...log, entries: [] }, 1, 'truncated');
    // Without a head, a cut after the last checkpoint cannot be seen: why the head exists.
    assert.equal((await run({ ...log, entries: log.entries.slice(0, 62), head: undefined })).ok, true);
  });

  it('names a forged checkpoint or head signature as bad-checkpoint at its seq', async () => {
    const log = makeLog(60);
    const other = generateAuditKey();
    const forged = (cp: SignedCheckpoint): SignedCheckpoint => ({ ...cp, signature: signCheckpoint(other.privateKeyPem, cp) });
    await assertBad({ ...log, checkpoints: log.checkpoints.map((c) => (c.seq === 40 ? forged(c) : c)) }, 40, 'bad-checkpoint');
    await assertBad({ ...log, checkpoints: log.checkpoints.map((c) => (c.seq === 40 ? { ...c, hash: 'a'.repeat(64) } : c)) }, 40, 'bad-checkpoint');
    await assertBad({ ...log, head: forged(log.head as SignedCheckpoint) }, 60, 'bad-checkpoint');
    const result = await run(log, { head: undefined, requireHead: true });
    assert.equal(result.ok ? undefined : result.firstBad.kind, 'bad-checkpoint');
  });

  it('reports the lowest bad seq when several things were changed', async () => {
    const log = makeLog(60);
    log.entries[49] = { ...(log.entries[49] as AuditEntry), actor: 'x' };
    log.entries[19] = { ...(log.entries[19] as AuditEntry), actor: 'x' };
    await assertBad({ ...log, entries: log.entries.filter((e) => e.seq !== 30) }, 20, 'modified');
  });
});
