import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stateForSilence, type MembershipOptions } from './membership.js';

const DEFAULTS: MembershipOptions = { heartbeatIntervalMs: 10_000, suspectAfterMissed: 3, offlineAfterMissed: 10 };

test('a node stays active up to and including suspectAfterMissed intervals of silence', () => {
  assert.equal(stateForSilence(0, DEFAULTS), 'active');
  assert.equal(stateForSilence(10_000, DEFAULTS), 'active');
  assert.equal(stateForSilence(29_999, DEFAULTS), 'active');
  assert.equal(stateForSilence(30_000, DEFAULTS), 'active'); // exactly 3 intervals: not yet
});

test('a node is suspect from just past suspectAfterMissed up to offlineAfterMissed intervals', () => {
  assert.equal(stateForSilence(30_001, DEFAULTS), 'suspect');
  assert.equal(stateForSilence(60_000, DEFAULTS), 'suspect');
  assert.equal(stateForSilence(100_000, DEFAULTS), 'suspect'); // exactly 10 intervals: not yet
});

test('a node is offline from just past offlineAfterMissed intervals on', () => {
  assert.equal(stateForSilence(100_001, DEFAULTS), 'offline');
  assert.equal(stateForSilence(86_400_000, DEFAULTS), 'offline');
  assert.equal(stateForSilence(Number.MAX_SAFE_INTEGER, DEFAULTS), 'offline');
});

test('a heartbeat stamped ahead of the server clock (negative silence) counts as active', () => {
  assert.equal(stateForSilence(-5_000, DEFAULTS), 'active');
});

test('the thresholds scale with the heartbeat interval and the configured counts', () => {
  const fast: MembershipOptions = { heartbeatIntervalMs: 200, suspectAfterMissed: 2, offlineAfterMissed: 5 };
  assert.equal(stateForSilence(400, fast), 'active');
  assert.equal(stateForSilence(401, fast), 'suspect');
  assert.equal(stateForSilence(1_000, fast), 'suspect');
  assert.equal(stateForSilence(1_001, fast), 'offline');
});

test('offline wins when the offline threshold is not above the suspect one', () => {
  const equal: MembershipOptions = { heartbeatIntervalMs: 1_000, suspectAfterMissed: 3, offlineAfterMissed: 3 };
  assert.equal(stateForSilence(3_000, equal), 'active');
  assert.equal(stateForSilence(3_001, equal), 'offline');
});

test('the state only ever worsens as silence grows', () => {
  const rank = { active: 0, suspect: 1, offline: 2 } as const;
  let previous = 0;
  for (let silent = 0; silent <= 120_000; silent += 250) {
    const current = rank[stateForSilence(silent, DEFAULTS)];
    assert.ok(current >= previous, `at ${silent} ms`);
    previous = current;
  }
  assert.equal(previous, rank.offline);
});
