import { test } from 'node:test';
import assert from 'node:assert/strict';
import { markStarted, PROGRESS_SLOTS, progressRing, startedCount } from './read-progress.js';

test('progress ring: begun files per batch, none before a worker starts, all once the slot moved to a later batch', () => {
  const ring = progressRing();
  assert.ok(ring.buffer instanceof SharedArrayBuffer, 'shared with the worker threads');
  assert.equal(startedCount(ring, 0), 0);
  markStarted(ring, 0, 0);
  assert.equal(startedCount(ring, 0), 1);
  markStarted(ring, 0, 41);
  assert.equal(startedCount(ring, 0), 42);
  assert.equal(startedCount(ring, 1), 0, 'another batch is untouched');

  // Batch 0 + PROGRESS_SLOTS takes batch 0's slot: batch 0 is over, the new one starts from nothing.
  const later = PROGRESS_SLOTS;
  assert.equal(startedCount(ring, later), 0, 'a slot holding an earlier batch says nothing of a later one');
  markStarted(ring, later, 3);
  assert.equal(startedCount(ring, later), 4);
  assert.equal(startedCount(ring, 0), Infinity, 'the earlier batch reads as done');
});
