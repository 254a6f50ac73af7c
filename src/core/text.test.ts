import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findMalformedText, isWellFormedText } from './text.js';

test('lone surrogates are found wherever they hide; paired ones are fine', () => {
  assert.equal(isWellFormedText('plain ü 😀'), true);
  assert.equal(isWellFormedText('\ud800'), false);
  assert.equal(isWellFormedText('a\udc00b'), false);
  assert.equal(findMalformedText({ user: 'alice', argv: ['sh', 'ok'] }), undefined);
  assert.equal(findMalformedText({ argv: ['sh', '-c', '\ud800'] }), 'argv[2]');
  assert.equal(findMalformedText({ a: { b: '\udfff' } }), 'a.b');
  assert.equal(findMalformedText({ ['\ud800']: 1 }), '(key)');
});
