import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BackupStatusRecord } from '../store/backup-results.js';
import { isGoodRun, missedNow, rpoOf, statusAfterRun, type CoveredNode, type ReportedRun } from './backup-rpo.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const T0 = Date.UTC(2026, 0, 1);
const KEY = { nodeId: 'node_a', policyId: 'bkp_a' };

/** A clock the test moves by hand. */
class FakeClock {
  constructor(public at: number) {}
  now(): number {
    return this.at;
  }
  advance(ms: number): void {
    this.at += ms;
  }
}

function run(over: Partial<ReportedRun> = {}): ReportedRun {
  return { state: 'succeeded', snapshotId: 'a'.repeat(64), startedAt: T0, finishedAt: T0 + MIN, errorCode: null, errorMessage: null, ...over };
}

test('the recovery point: age of the last good backup, overdue past max-age', () => {
  const clock = new FakeClock(T0 + 30 * MIN);
  assert.deepEqual(rpoOf({ now: clock.now(), lastGoodAt: T0, since: T0 - HOUR, maxAgeMs: HOUR }), { ageMs: 30 * MIN, overdue: false });
  clock.advance(31 * MIN);
  assert.deepEqual(rpoOf({ now: clock.now(), lastGoodAt: T0, since: T0 - HOUR, maxAgeMs: HOUR }), { ageMs: 61 * MIN, overdue: true });
  // Never a good backup: counted from when the node became covered, not overdue at once.
  assert.deepEqual(rpoOf({ now: clock.now(), lastGoodAt: null, since: clock.now() - 10 * MIN, maxAgeMs: HOUR }), { ageMs: null, overdue: false });
  assert.deepEqual(rpoOf({ now: clock.now(), lastGoodAt: null, since: clock.now() - 2 * HOUR, maxAgeMs: HOUR }), { ageMs: null, overdue: true });
  // A clock behind the report does not give a negative age.
  assert.equal(rpoOf({ now: T0, lastGoodAt: T0 + 5000, since: T0, maxAgeMs: HOUR }).ageMs, 0);
});

test('good runs are those that wrote a snapshot, partial ones too', () => {
  assert.equal(isGoodRun({ state: 'succeeded', snapshotId: 'x' }), true);
  assert.equal(isGoodRun({ state: 'partial', snapshotId: 'x' }), true);
  assert.equal(isGoodRun({ state: 'failed', snapshotId: null }), false);
  assert.equal(isGoodRun({ state: 'skipped', snapshotId: null }), false);
  assert.equal(isGoodRun({ state: 'succeeded', snapshotId: null }), false);
});

test('status after runs: last run and last good only move forward; a good run clears a raised miss', () => {
  const first = statusAfterRun(undefined, KEY, run());
  assert.equal(first.lastGoodAt, T0);
  assert.equal(first.lastRunState, 'succeeded');
  const failed = statusAfterRun({ ...first, missedAt: T0 + 2 * HOUR }, KEY, run({ state: 'failed', snapshotId: null, startedAt: T0 + 3 * HOUR, finishedAt: T0 + 3 * HOUR, errorCode: 'STORAGE_FAILED', errorMessage: 'disk gone' }));
  assert.equal(failed.lastGoodAt, T0, 'a failure keeps the last good backup');
  assert.equal(failed.lastRunState, 'failed');
  assert.equal(failed.lastErrorCode, 'STORAGE_FAILED');
  assert.equal(failed.missedAt, T0 + 2 * HOUR, 'a failure does not clear a miss');
  // A late report of an older good run: neither the last run nor the last good backup goes back.
  const late = statusAfterRun(failed, KEY, run({ startedAt: T0 - HOUR, finishedAt: T0 - HOUR + MIN }));
  assert.deepEqual(late, failed);
  const recovered = statusAfterRun(failed, KEY, run({ state: 'partial', startedAt: T0 + 4 * HOUR, finishedAt: T0 + 4 * HOUR + MIN, snapshotId: 'b'.repeat(64) }));
  assert.equal(recovered.lastGoodAt, T0 + 4 * HOUR);
  assert.equal(recovered.lastGoodSnapshot, 'b'.repeat(64));
  assert.equal(recovered.missedAt, null);
  assert.equal(recovered.lastErrorCode, null);
  const skipped = statusAfterRun(recovered, KEY, run({ state: 'skipped', snapshotId: null, startedAt: T0 + 5 * HOUR, finishedAt: T0 + 5 * HOUR }));
  assert.equal(skipped.lastRunState, 'skipped');
  assert.equal(skipped.lastGoodAt, T0 + 4 * HOUR);
});

test('backup.missed is due once per gap: overdue and not raised since the last good backup', () => {
  const clock = new FakeClock(T0);
  const status = (over: Partial<BackupStatusRecord>): BackupStatusRecord => ({ ...KEY, lastGoodAt: null, lastGoodSnapshot: null, lastRunAt: null, lastRunState: null, lastErrorCode: null, lastErrorMessage: null, missedAt: null, ...over });
  const covered = (s: BackupStatusRecord | undefined, since = T0): CoveredNode => ({ ...KEY, since, maxAgeMs: HOUR, status: s });
  assert.deepEqual(missedNow([covered(undefined)], clock.now()), [], 'a node just covered is not late');
  clock.advance(HOUR + 1);
  assert.equal(missedNow([covered(undefined)], clock.now()).length, 1, 'never backed up within max-age');
  assert.equal(missedNow([covered(status({ missedAt: clock.now() }))], clock.now()).length, 0, 'raised already for this gap');
  assert.equal(missedNow([covered(status({ lastGoodAt: clock.now() - 10 * MIN }))], clock.now()).length, 0, 'a fresh good backup');
  clock.advance(2 * HOUR);
  const late = covered(status({ lastGoodAt: T0 + 30 * MIN }));
  assert.deepEqual(missedNow([late, covered(status({ lastGoodAt: clock.now() }))], clock.now()), [late]);
});
