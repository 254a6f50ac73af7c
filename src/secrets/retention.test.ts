import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BulwarkError } from '../core/errors.js';
import { checkMaxVersions, versionsBeyondRetention, versionState } from './retention.js';

test('the newest max versions are kept; older ones go, oldest first', () => {
  assert.deepEqual(versionsBeyondRetention([1, 2, 3, 4, 5], 3), [1, 2]);
  assert.deepEqual(versionsBeyondRetention([5, 3, 4], 3), []);
  assert.deepEqual(versionsBeyondRetention([7, 9, 8], 1), [7, 8]);
  assert.deepEqual(versionsBeyondRetention([], 10), []);
  assert.deepEqual(versionsBeyondRetention([2, 2, 3], 1), [2], 'duplicates count once');
  // Gaps (versions already removed) do not shift which ones are kept.
  assert.deepEqual(versionsBeyondRetention([4, 10, 11, 12], 2), [4, 10]);
});

test('max versions is a whole number from 1 to 100', () => {
  assert.equal(checkMaxVersions(1), 1);
  assert.equal(checkMaxVersions(100), 100);
  for (const bad of [0, 101, 1.5, Number.NaN, -3]) {
    assert.throws(() => checkMaxVersions(bad), (err: unknown) => err instanceof BulwarkError && err.code === 'BAD_REQUEST' && /from 1 to 100/.test(err.message));
    assert.throws(() => versionsBeyondRetention([1, 2], bad), BulwarkError);
  }
});

test('a version is destroyed, deleted or live, destroyed winning', () => {
  assert.equal(versionState({ deletedAt: null, destroyedAt: null }), 'live');
  assert.equal(versionState({ deletedAt: 5, destroyedAt: null }), 'deleted');
  assert.equal(versionState({ deletedAt: 5, destroyedAt: 6 }), 'destroyed');
  assert.equal(versionState({ deletedAt: null, destroyedAt: 6 }), 'destroyed');
});
