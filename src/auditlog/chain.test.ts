import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { canonicalEntryJson, chainNext, entryHash, GENESIS_HASH, hashAtSeq } from './chain.js';
import type { AuditEntryInput } from './entry.js';

const input = (i: number): AuditEntryInput => ({
  time: 1_700_000_000_000 + i,
  actor: 'user:alice',
  action: 'nodes.delete',
  resource: `nodes/db-${i}`,
  decision: 'allow',
  source: '127.0.0.1',
  requestId: `req-${i}`,
  outcome: 'success',
  details: { i, z: [true, null, 'é'], a: { y: 1.5, b: 'x' } },
});

describe('hash chain', () => {
  it('starts at the genesis hash and links each entry to the one before', () => {
    assert.equal(GENESIS_HASH, '0'.repeat(64));
    const first = chainNext(undefined, input(1));
    assert.equal(first.seq, 1);
    assert.equal(first.prevHash, GENESIS_HASH);
    const second = chainNext(first, input(2));
    assert.equal(second.seq, 2);
    assert.equal(second.prevHash, first.hash);
    assert.match(second.hash, /^[0-9a-f]{64}$/);
  });

  it('hashes the previous hash as bytes followed by the RFC 8785 JSON of the entry', () => {
    const e = chainNext(undefined, input(1));
    const json =
      '{"action":"nodes.delete","actor":"user:alice","decision":"allow","details":{"a":{"b":"x","y":1.5},"i":1,"z":[true,null,"é"]},' +
      '"outcome":"success","requestId":"req-1","resource":"nodes/db-1","seq":1,"source":"127.0.0.1","time":1700000000001}';
    assert.equal(canonicalEntryJson(e), json);
    const expected = createHash('sha256').update(Buffer.alloc(32)).update(json, 'utf8').digest('hex');
    assert.equal(e.hash, expected);
  });

  it('ignores key order and extra properties, but not any hashed field', () => {
    const e = chainNext(undefined, input(1));
    const reordered = { ...e, details: { a: { b: 'x', y: 1.5 }, z: [true, null, 'é'], i: 1 }, extra: 'ignored' };
    assert.equal(entryHash(GENESIS_HASH, reordered), e.hash);
    for (const change of [{ seq: 2 }, { time: e.time + 1 }, { actor: 'user:bob' }, { decision: 'deny' as const }, { details: { i: 1 } }, { requestId: 'x' }]) {
      assert.notEqual(entryHash(GENESIS_HASH, { ...e, ...change }), e.hash, JSON.stringify(change));
    }
    assert.notEqual(entryHash('1'.repeat(64), e), e.hash);
  });

  it('hashAtSeq agrees with entryHash at every seq, even with "seq" inside details and source', () => {
    const tricky = { ...input(3), source: '"seq":1', details: { seq: 1, '"seq":1': '"seq":1' } };
    const prev = 'ab'.repeat(32);
    const at = hashAtSeq(prev, { ...tricky, seq: 7 });
    for (const seq of [1, 2, 9, 10, 123456789]) assert.equal(at(seq), entryHash(prev, { ...tricky, seq }));
  });

  it('throws on values RFC 8785 cannot express instead of hashing them wrongly', () => {
    for (const details of [{ n: Number.NaN }, { n: -Infinity }, { d: new Date(0) }, { s: 'a\udc00' }]) {
      assert.throws(() => chainNext(undefined, { ...input(1), details }), (err: unknown) => (err as { code?: string }).code === 'INTERNAL');
    }
    assert.throws(() => chainNext(undefined, { ...input(1), time: 1.5 }));
    assert.throws(() => entryHash('xyz', { ...input(1), seq: 1 }));
  });
});
