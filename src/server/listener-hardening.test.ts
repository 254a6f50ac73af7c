/**
 * Pure pieces of the agent listener's hardening: input bounds, the join limiter
 * key and its memory cap, and writes that spare removed nodes. (The agent's and
 * the CLI's parts are in test/hardening.test.ts: server/ may not import them.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Clock } from '../core/clock.js';
import { FailureLimiter } from '../core/rate-limiter.js';
import { JoinRequestSchema } from '../protocol/agent.js';
import { NodeFactsSchema, type NodeFacts } from '../protocol/facts.js';
import { getNode, insertNode, markNodeRemoved, setFacts, touchLastSeen } from '../store/nodes.js';
import { testDatabases } from '../store/test-databases.js';
import { joinLimiterKey } from './enrollment.js';

const baseFacts: NodeFacts = { hostname: 'db-1', os: { id: 'debian' }, ipAddresses: [], listeningPorts: [], collectedAt: 1 };

test('M7: every string and array of the facts is bounded', () => {
  assert.ok(NodeFactsSchema.safeParse(baseFacts).success);
  assert.ok(NodeFactsSchema.safeParse({ ...baseFacts, hostname: 'h'.repeat(253) }).success);
  assert.ok(!NodeFactsSchema.safeParse({ ...baseFacts, hostname: 'h'.repeat(254) }).success);
  assert.ok(NodeFactsSchema.safeParse({ ...baseFacts, kernel: 'k'.repeat(256) }).success);
  for (const bad of [
    { kernel: 'k'.repeat(257) },
    { arch: 'a'.repeat(257) },
    { os: { prettyName: 'p'.repeat(257) } },
    { ipAddresses: [{ interface: 'i'.repeat(257), address: '10.0.0.1', family: 'ipv4' }] },
    { ipAddresses: Array.from({ length: 257 }, () => ({ interface: 'eth0', address: '10.0.0.1', family: 'ipv4' })) },
    { listeningPorts: Array.from({ length: 4097 }, () => ({ protocol: 'tcp', address: '0.0.0.0', port: 22 })) },
    { listeningPorts: [{ protocol: 'tcp', address: '0.0.0.0', port: 22, process: { pid: 1, name: 'n'.repeat(257) } }] },
  ]) {
    assert.ok(!NodeFactsSchema.safeParse({ ...baseFacts, ...bad }).success, JSON.stringify(bad).slice(0, 80));
  }
  assert.ok(NodeFactsSchema.safeParse({ ...baseFacts, listeningPorts: Array.from({ length: 4096 }, () => ({ protocol: 'tcp', address: '0.0.0.0', port: 22 })) }).success);
});

test('M7: a join request hostname must be an RFC 1123 host name', () => {
  const request = (hostname: string) => JoinRequestSchema.safeParse({ token: 't', csr: 'c', hostname, agentVersion: '1' }).success;
  for (const good of ['db-1', 'a', 'web01.example.com', 'A1-b2.c3', `${'a'.repeat(63)}.${'b'.repeat(63)}`]) assert.ok(request(good), good);
  for (const bad of ['', '-db', 'db-', 'db_1', 'db 1', 'db\u001b[31m', 'a..b', '.a', 'a.', 'ünicode', 'a'.repeat(64), `${'a.'.repeat(126)}ab`]) {
    assert.ok(!request(bad), JSON.stringify(bad));
  }
});

test('L8: the join limiter keys IPv4 by address and IPv6 by its /64', () => {
  assert.equal(joinLimiterKey('192.0.2.7'), '192.0.2.7');
  assert.equal(joinLimiterKey('::ffff:192.0.2.7'), '192.0.2.7');
  assert.equal(joinLimiterKey('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64');
  assert.equal(joinLimiterKey('2001:db8:1:2::ffff'), '2001:db8:1:2::/64');
  assert.equal(joinLimiterKey('2001:0DB8:0001:0002:aaaa::1'), '2001:db8:1:2::/64');
  assert.equal(joinLimiterKey('2001:db8::1'), '2001:db8:0:0::/64');
  assert.equal(joinLimiterKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
  assert.equal(joinLimiterKey('::1'), '0:0:0:0::/64');
  assert.equal(joinLimiterKey('unknown'), 'unknown');
  // Every address of one /64 shares one budget.
  const clock: Clock = { now: () => 1_000_000 };
  const limiter = new FailureLimiter({ maxFailures: 3, windowMs: 60_000, clock });
  for (let i = 1; i <= 3; i++) limiter.fail(joinLimiterKey(`2001:db8:1:2::${i}`));
  assert.ok(limiter.retryAfter(joinLimiterKey('2001:db8:1:2:ffff:ffff:ffff:ffff')) > 0);
  assert.equal(limiter.retryAfter(joinLimiterKey('2001:db8:1:3::1')), 0);
});

test('L9: the failure limiter holds at most maxKeys keys, dropping the least recently failing', () => {
  let now = 0;
  const clock: Clock = { now: () => now };
  const limiter = new FailureLimiter({ maxFailures: 2, windowMs: 60_000, clock, maxKeys: 100 });
  for (let i = 0; i < 10_000; i++) {
    now += 1;
    limiter.fail(`k${i}`);
    assert.ok(limiter.size <= 100, `size ${limiter.size} after ${i + 1} keys`);
  }
  // The newest keys are kept; a key that failed again recently survives newcomers.
  limiter.fail('hot');
  limiter.fail('hot');
  for (let i = 0; i < 99; i++) limiter.fail(`new${i}`);
  assert.ok(limiter.retryAfter('hot') > 0, 'the most recently failing keys are kept');
  assert.equal(limiter.retryAfter('k0'), 0);
  // Stale keys go as new ones arrive, without waiting for the cap.
  now += 120_000;
  limiter.fail('fresh');
  assert.equal(limiter.size, 1);
});

test('L9: the failure limiter never scans the whole map per failure', () => {
  const clock: Clock = { now: () => 5 };
  const limiter = new FailureLimiter({ maxFailures: 10, windowMs: 60_000, clock, maxKeys: 50_000 });
  let longest = 0;
  for (let i = 0; i < 200_000; i++) {
    limiter.fail(`addr-${i}`);
    // A hot key failing again and again must not grow the bookkeeping either.
    if (i % 3 === 0) limiter.fail('hot');
    longest = Math.max(longest, limiter.orderLength);
  }
  assert.equal(limiter.size, 50_000);
  // The failure order is bounded by the keys it tracks, and eviction only ever
  // pops from its front: the work per failure is constant, not a scan of 50,000 keys.
  assert.ok(longest <= 2 * 50_000 + 1024 + 1, `order grew to ${longest}`);
});

test('M5: facts and heartbeats are not written to a removed node', async () => {
  const sqlite = testDatabases().find((d) => d.kind === 'sqlite');
  if (!sqlite) throw new Error('no SQLite test database');
  const store = await sqlite.open();
  try {
    for (const id of ['live', 'gone']) {
      await insertNode(store.db, {
        id,
        name: id,
        labels: {},
        state: 'active',
        facts: null,
        factsHash: null,
        certSerial: null,
        certNotAfter: null,
        agentVersion: null,
        protocolVersion: null,
        joinTokenId: null,
        joinedAt: 1,
        lastSeenAt: 1,
        stateChangedAt: 1,
        removedAt: null,
      });
    }
    await markNodeRemoved(store.db, 'gone', 2);
    assert.equal(await setFacts(store.db, 'gone', baseFacts, 'h'), false);
    assert.equal(await setFacts(store.db, 'live', baseFacts, 'h'), true);
    await touchLastSeen(store.db, [
      { id: 'live', at: 50 },
      { id: 'gone', at: 50 },
    ]);
    assert.equal((await getNode(store.db, 'live'))?.lastSeenAt, 50);
    const gone = await getNode(store.db, 'gone');
    assert.equal(gone?.lastSeenAt, 1);
    assert.equal(gone?.facts, null);
  } finally {
    await store.close();
  }
});
