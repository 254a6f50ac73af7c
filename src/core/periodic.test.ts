import { test } from 'node:test';
import assert from 'node:assert/strict';
import { everyWithoutOverlap } from './periodic.js';

test('a periodic job never overlaps itself and keeps going after a failure', async () => {
  let running = 0;
  let most = 0;
  let runs = 0;
  const errors: unknown[] = [];
  const timer = everyWithoutOverlap(
    5,
    async () => {
      running++;
      most = Math.max(most, running);
      runs++;
      await new Promise((resolve) => setTimeout(resolve, 30));
      running--;
      if (runs === 1) throw new Error('first fails');
    },
    (err) => errors.push(err),
  );
  await new Promise((resolve) => setTimeout(resolve, 150));
  clearInterval(timer);
  assert.equal(most, 1);
  assert.ok(runs >= 2, `${runs} runs`);
  assert.equal(errors.length, 1);
});
