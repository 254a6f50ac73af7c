import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDuration, parseDuration } from './duration.js';

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;

test('parseDuration reads every unit', () => {
  assert.equal(parseDuration('250ms'), 250);
  assert.equal(parseDuration('90s'), 90 * S);
  assert.equal(parseDuration('15m'), 15 * M);
  assert.equal(parseDuration('1h'), H);
  assert.equal(parseDuration('30d'), 30 * D);
});

test('parseDuration adds compound durations, in any order and with repeats', () => {
  assert.equal(parseDuration('1h30m'), H + 30 * M);
  assert.equal(parseDuration('1d2h3m4s5ms'), D + 2 * H + 3 * M + 4 * S + 5);
  assert.equal(parseDuration('30m1h'), H + 30 * M);
  assert.equal(parseDuration('1m1ms'), M + 1); // "ms" is not read as minutes then "s"
  assert.equal(parseDuration('1s1s'), 2 * S);
  assert.equal(parseDuration('0h5m'), 5 * M); // a zero part is fine while the total is positive
});

test('parseDuration ignores surrounding white space and leading zeros', () => {
  assert.equal(parseDuration('  15m\n'), 15 * M);
  assert.equal(parseDuration('007s'), 7 * S);
});

test('parseDuration refuses anything else with BAD_REQUEST and an example', () => {
  const bad = ['', '   ', '10', 'h', '1', '1 h', '1h 30m', '1.5h', '-1h', '+1h', '1H', '1w', '1y', '1hour', 'h1', '1e3s', '0s', '0ms', '0d0h', '1h,30m', '1h-'];
  for (const text of bad) {
    assert.throws(
      () => parseDuration(text),
      { name: 'BulwarkError', code: 'BAD_REQUEST', message: `duration "${text}" is invalid: use a number and a unit, e.g. 90s, 15m, 1h, 30d` },
      JSON.stringify(text),
    );
  }
});

test('formatDuration picks the largest unit that divides the duration', () => {
  assert.equal(formatDuration(30 * D), '30d');
  assert.equal(formatDuration(D), '1d');
  assert.equal(formatDuration(36 * H), '36h');
  assert.equal(formatDuration(90 * M), '90m');
  assert.equal(formatDuration(90 * S), '90s');
  assert.equal(formatDuration(1500), '1500ms');
  assert.equal(formatDuration(1), '1ms');
});

test('formatDuration output parses back to the same duration', () => {
  for (const ms of [1, 999, S, 61 * S, M, 59 * M, H, 25 * H, D, 400 * D, D + 1, 123_456_789]) {
    assert.equal(parseDuration(formatDuration(ms)), ms, String(ms));
  }
  for (const text of ['90s', '15m', '1h', '30d', '250ms']) assert.equal(formatDuration(parseDuration(text)), text);
});
