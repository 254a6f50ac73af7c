import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from './clock.js';
import { ConcurrencyLimiter, FailureLimiter } from './rate-limiter.js';

const WINDOW = 60_000;

function limiter(maxFailures = 3, maxKeys?: number): { limiter: FailureLimiter; clock: ManualClock } {
  const clock = new ManualClock();
  return { limiter: new FailureLimiter({ maxFailures, windowMs: WINDOW, clock, ...(maxKeys === undefined ? {} : { maxKeys }) }), clock };
}

test('a key may try until it has failed maxFailures times within the window', () => {
  const { limiter: l } = limiter(3);
  assert.equal(l.retryAfter('10.0.0.1'), 0);
  l.fail('10.0.0.1');
  l.fail('10.0.0.1');
  assert.equal(l.retryAfter('10.0.0.1'), 0);
  l.fail('10.0.0.1');
  assert.equal(l.retryAfter('10.0.0.1'), WINDOW);
});

test('retryAfter counts down to the moment the oldest counted failure leaves the window', () => {
  const { limiter: l, clock } = limiter(3);
  l.fail('a');
  clock.advance(10_000);
  l.fail('a');
  clock.advance(10_000);
  l.fail('a');
  // Blocked until the first failure (at 0) is a full window old.
  assert.equal(l.retryAfter('a'), WINDOW - 20_000);
  clock.advance(WINDOW - 20_000 - 1);
  assert.equal(l.retryAfter('a'), 1);
  clock.advance(1);
  assert.equal(l.retryAfter('a'), 0);
});

test('a blocked key recovers once the window has passed', () => {
  const { limiter: l, clock } = limiter(2);
  l.fail('a');
  l.fail('a');
  assert.ok(l.retryAfter('a') > 0);
  clock.advance(WINDOW);
  assert.equal(l.retryAfter('a'), 0);
  // Old failures no longer count: one new failure does not block again.
  l.fail('a');
  assert.equal(l.retryAfter('a'), 0);
  l.fail('a');
  assert.equal(l.retryAfter('a'), WINDOW);
});

test('failures beyond the limit extend the wait to the newest relevant failure', () => {
  const { limiter: l, clock } = limiter(2);
  l.fail('a'); // t=0
  clock.advance(5_000);
  l.fail('a'); // t=5 s
  clock.advance(5_000);
  l.fail('a'); // t=10 s: still counted, although the key was blocked
  // The second-newest failure (5 s) decides: 5 s + 60 s − 10 s.
  assert.equal(l.retryAfter('a'), 55_000);
});

test('keys are counted separately', () => {
  const { limiter: l } = limiter(1);
  l.fail('10.0.0.1');
  assert.equal(l.retryAfter('10.0.0.1'), WINDOW);
  assert.equal(l.retryAfter('10.0.0.2'), 0);
  assert.equal(l.retryAfter('10.0.0.10'), 0);
});

test('pruning drops stale keys first and keeps a key still inside its window while under the cap', () => {
  const { limiter: l, clock } = limiter(2, 3);
  l.fail('stale');
  l.fail('stale');
  clock.advance(WINDOW - 1_000);
  l.fail('active');
  l.fail('active');
  clock.advance(2_000);
  // Two more keys push the map over maxKeys: the stale key goes, which brings it back to the cap.
  l.fail('b');
  l.fail('c');
  assert.equal(l.retryAfter('stale'), 0);
  assert.equal(l.retryAfter('active'), WINDOW - 2_000);
});

test('a concurrency limiter caps what one key has in flight, per key, until released', () => {
  const limiter = new ConcurrencyLimiter({ max: 2, what: 'restores' });
  const a1 = limiter.acquire('alice');
  const a2 = limiter.acquire('alice');
  assert.throws(() => limiter.acquire('alice'), (err: Error & { code?: string }) => err.code === 'RATE_LIMITED' && /2 restores in flight/.test(err.message));
  const b1 = limiter.acquire('bob');
  assert.equal(limiter.count('bob'), 1, 'keys are counted separately');
  a1();
  a1();
  assert.equal(limiter.count('alice'), 1, 'a release called twice counts once');
  const a3 = limiter.acquire('alice');
  a2();
  a3();
  b1();
  assert.equal(limiter.count('alice') + limiter.count('bob'), 0);
});
