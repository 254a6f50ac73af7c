import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { BulwarkError } from '../core/errors.js';
import { ID_BYTES, idFromHex, idHex } from './ids.js';

describe('ids', () => {
  it('round-trips an id through hex', () => {
    const id = new Uint8Array(randomBytes(ID_BYTES));
    const hex = idHex(id);
    assert.match(hex, /^[0-9a-f]{64}$/);
    const back = idFromHex(hex);
    assert.ok(!Buffer.isBuffer(back));
    assert.deepEqual(back, id);
  });

  it('writes only the bytes of a subarray', () => {
    const storage = Uint8Array.from({ length: 96 }, (_, i) => i);
    assert.equal(idHex(storage.subarray(32, 64)), Buffer.from(storage.subarray(32, 64)).toString('hex'));
    assert.equal(idHex(storage.subarray(32, 64)).slice(0, 4), '2021');
  });

  it('rejects anything but 64 lower-case hex digits, naming what was wrong', () => {
    const good = 'ab'.repeat(32);
    for (const bad of ['', good.slice(2), `${good}00`, good.toUpperCase(), `${good.slice(0, 63)}g`, ` ${good.slice(1)}`, `${good}\n`]) {
      assert.throws(
        () => idFromHex(bad, 'snapshot id'),
        (err: unknown) => err instanceof BulwarkError && err.code === 'BAD_REQUEST' && err.message.includes('snapshot id'),
        JSON.stringify(bad),
      );
    }
  });

  it('keeps an overlong input out of the message', () => {
    assert.throws(
      () => idFromHex('x'.repeat(10_000)),
      (err: unknown) => err instanceof BulwarkError && err.message.length < 200,
    );
  });
});
