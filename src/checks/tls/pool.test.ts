import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TaskPool } from './pool.js';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = (): void => undefined;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

test('runs at most `limit` tasks at once, the rest in arrival order', async () => {
  const pool = new TaskPool(2);
  const gates = [deferred(), deferred(), deferred(), deferred()];
  const started: number[] = [];
  let running = 0;
  let peak = 0;
  const runs = gates.map((gate, i) =>
    pool.run(async () => {
      started.push(i);
      running++;
      peak = Math.max(peak, running);
      await gate.promise;
      running--;
      return i;
    }),
  );
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(started, [0, 1]);
  gates[1]?.resolve();
  await runs[1];
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(started, [0, 1, 2]);
  for (const gate of gates) gate.resolve();
  assert.deepEqual(await Promise.all(runs), [0, 1, 2, 3]);
  assert.equal(peak, 2);
});

test('a task waiting for a slot is dropped when its signal aborts; a failing task frees its slot', async () => {
  const pool = new TaskPool(1);
  const gate = deferred();
  const first = pool.run(() => gate.promise);
  const controller = new AbortController();
  let ran = false;
  const waiting = pool.run(async () => {
    ran = true;
  }, controller.signal);
  controller.abort(new Error('stop'));
  await assert.rejects(waiting, /stop/);
  gate.resolve();
  await first;
  assert.equal(ran, false);
  await assert.rejects(pool.run(() => Promise.reject(new Error('boom'))), /boom/);
  assert.equal(await pool.run(async () => 'free'), 'free');
  await assert.rejects(pool.run(async () => 'never', AbortSignal.abort(new Error('already'))), /already/);
  assert.throws(() => new TaskPool(0), RangeError);
});
