import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backoffDelay } from './backoff.js';

const JUST_UNDER_ONE = 1 - Number.EPSILON;
const ceiling = (attempt: number, opts: { baseMs?: number; capMs?: number } = {}): number =>
  // With random() just under 1 the delay is the largest the ceiling allows.
  backoffDelay(attempt, { ...opts, random: () => JUST_UNDER_ONE }) + 1;

test('a random draw of 0 waits not at all, whatever the attempt', () => {
  for (const attempt of [0, 1, 5, 10, 100]) assert.equal(backoffDelay(attempt, { random: () => 0 }), 0);
});

test('a draw just under 1 waits just under the ceiling: 500 ms doubling per attempt', () => {
  assert.equal(backoffDelay(0, { random: () => JUST_UNDER_ONE }), 499);
  assert.equal(backoffDelay(1, { random: () => JUST_UNDER_ONE }), 999);
  assert.equal(backoffDelay(2, { random: () => JUST_UNDER_ONE }), 1_999);
  assert.equal(backoffDelay(6, { random: () => JUST_UNDER_ONE }), 31_999);
});

test('the ceiling is capped at 60 s by default', () => {
  assert.equal(ceiling(6), 32_000);
  assert.equal(ceiling(7), 60_000); // 64 s would exceed the cap
  assert.equal(ceiling(8), 60_000);
  assert.equal(ceiling(30), 60_000);
  // Large attempt counts neither overflow to Infinity nor NaN.
  assert.equal(ceiling(1_000), 60_000);
  assert.equal(ceiling(Number.MAX_SAFE_INTEGER), 60_000);
});

test('the ceiling never shrinks as attempts grow', () => {
  let previous = 0;
  for (let attempt = 0; attempt <= 50; attempt++) {
    const current = ceiling(attempt);
    assert.ok(current >= previous, `attempt ${attempt}: ${current} < ${previous}`);
    assert.ok(current <= 60_000);
    previous = current;
  }
});

test('the draw scales the ceiling linearly (full jitter)', () => {
  assert.equal(backoffDelay(3, { random: () => 0.5 }), 2_000);
  assert.equal(backoffDelay(3, { random: () => 0.25 }), 1_000);
  assert.equal(backoffDelay(10, { random: () => 0.5 }), 30_000);
});

test('base and cap can be set', () => {
  assert.equal(ceiling(0, { baseMs: 100 }), 100);
  assert.equal(ceiling(3, { baseMs: 100 }), 800);
  assert.equal(ceiling(3, { baseMs: 100, capMs: 500 }), 500);
  assert.equal(ceiling(0, { baseMs: 1_000, capMs: 250 }), 250);
});

test('with the real random source every delay is a whole number in [0, ceiling)', () => {
  for (let attempt = 0; attempt < 12; attempt++) {
    const max = Math.min(60_000, 500 * 2 ** attempt);
    for (let i = 0; i < 200; i++) {
      const delay = backoffDelay(attempt);
      assert.ok(Number.isInteger(delay), String(delay));
      assert.ok(delay >= 0 && delay < max, `attempt ${attempt}: ${delay} not in [0, ${max})`);
    }
  }
});

test('delays are spread out, not in lock-step', () => {
  const delays = new Set<number>();
  for (let i = 0; i < 100; i++) delays.add(backoffDelay(10));
  assert.ok(delays.size > 50, `only ${delays.size} distinct delays in 100 draws`);
});
