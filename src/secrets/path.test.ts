import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BulwarkError } from '../core/errors.js';
import { checkSecretPath, MAX_SECRET_PATH_LENGTH, secretPathProblem } from './path.js';

test('ordinary paths are accepted', () => {
  for (const path of ['app', 'app/db-password', 'A.b_c-9/x', 'prod/eu-1/.env', 'x'.repeat(MAX_SECRET_PATH_LENGTH)]) {
    assert.equal(secretPathProblem(path), undefined, path);
    assert.equal(checkSecretPath(path), path);
  }
});

test('paths that could mean something else are refused, each with its reason', () => {
  const cases: [string, RegExp][] = [
    ['', /empty/],
    ['/app/db', /starts with "\/"/],
    ['app/db/', /ends with "\/"/],
    ['app//db', /empty segment/],
    ['app/../db', /"\." or "\.\."/],
    ['./app', /"\." or "\.\."/],
    ['app/d b', /letters, digits/],
    ['app/*', /letters, digits/],
    ['app/dé', /letters, digits/],
    ['app\\db', /letters, digits/],
    ['app/db\u0000', /letters, digits/],
    ['x'.repeat(MAX_SECRET_PATH_LENGTH + 1), /257 characters long/],
  ];
  for (const [path, reason] of cases) {
    assert.match(secretPathProblem(path) ?? '', reason, JSON.stringify(path));
    assert.throws(
      () => checkSecretPath(path),
      (err: unknown) => err instanceof BulwarkError && err.code === 'BAD_REQUEST' && reason.test(err.message) && !err.message.includes('\n'),
    );
  }
});

test('a long invalid path is shortened and escaped in the message', () => {
  assert.throws(
    () => checkSecretPath(`\u001b[2J${'a/'.repeat(200)}`),
    (err: unknown) => err instanceof BulwarkError && !err.message.includes('\u001b') && err.message.length < 200,
  );
});
