import { test } from 'node:test';
import assert from 'node:assert/strict';
import { needsRenewal, renewalTime } from './renewal.js';

const T0 = Date.UTC(2026, 0, 1);
const DAY = 86_400_000;

test('renewal falls at two thirds of the lifetime', () => {
  assert.equal(renewalTime(T0, T0 + 3 * DAY), T0 + 2 * DAY);
  assert.equal(renewalTime(T0, T0 + DAY), T0 + 16 * 3_600_000);
});

test('needsRenewal turns true at the renewal time and stays true after expiry', () => {
  const notAfter = T0 + 3 * DAY;
  assert.equal(needsRenewal(T0, T0, notAfter), false);
  assert.equal(needsRenewal(T0 + 2 * DAY - 1, T0, notAfter), false);
  assert.equal(needsRenewal(T0 + 2 * DAY, T0, notAfter), true);
  assert.equal(needsRenewal(notAfter + DAY, T0, notAfter), true);
});
