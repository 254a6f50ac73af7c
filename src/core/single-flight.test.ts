import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SingleFlight } from './single-flight.js';

test('callers share one build until it is dropped; a failed build is forgotten, a replaced one is not', async () => {
  const flight = new SingleFlight<number>();
  let builds = 0;
  const build = async (): Promise<number> => ++builds;
  assert.equal(await Promise.all([flight.get(build), flight.get(build)]).then((v) => v.join()), '1,1');
  assert.equal(builds, 1);
  flight.drop();
  assert.equal(await flight.get(build), 2);
  const failing = flight.set(Promise.reject(new Error('no')));
  await assert.rejects(failing);
  assert.equal(flight.current, undefined, 'a failure is not held');
  assert.equal(await flight.get(build), 3);
  let fail!: (err: Error) => void;
  const slow = flight.set(new Promise<number>((_, reject) => (fail = reject)));
  const newer = flight.set(Promise.resolve(10));
  fail(new Error('late'));
  await assert.rejects(slow);
  assert.equal(flight.current, newer, 'a stale failure does not drop what replaced it');
});
