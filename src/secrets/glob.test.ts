import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileSecretGlob, matchesEveryPath, matchesSecretGlob, secretGlobProblem } from './glob.js';

test('a plain glob matches exactly that path', () => {
  assert.equal(matchesSecretGlob('db/password', 'db/password'), true);
  assert.equal(matchesSecretGlob('db/password', 'db/password2'), false);
  assert.equal(matchesSecretGlob('db/password', 'db'), false);
  assert.equal(matchesSecretGlob('db/password', 'db/password/old'), false);
});

test('"*" matches within one segment only', () => {
  const m = compileSecretGlob('app/*');
  assert.equal(m('app/db'), true);
  assert.equal(m('app/db/password'), false);
  assert.equal(m('app'), false);
  assert.equal(m('apps/db'), false);
  const partial = compileSecretGlob('app/db-*.key');
  assert.equal(partial('app/db-prod.key'), true);
  assert.equal(partial('app/db-.key'), true);
  assert.equal(partial('app/db-prodXkey'), false, '"." is literal, not any character');
  assert.equal(partial('app/db-a/b.key'), false);
  assert.equal(compileSecretGlob('*/password')('db/password'), true);
  assert.equal(compileSecretGlob('*/password')('a/db/password'), false);
});

test('a final "**" matches any depth below, and "**" alone every path', () => {
  const m = compileSecretGlob('app/**');
  assert.equal(m('app/db'), true);
  assert.equal(m('app/db/password/v2'), true);
  assert.equal(m('app'), false, 'the folder itself is not below itself');
  assert.equal(m('apps/db'), false);
  const all = compileSecretGlob('**');
  for (const path of ['a', 'a/b', 'a/b/c/d']) assert.equal(all(path), true);
  assert.equal(compileSecretGlob('*/x/**')('team/x/a/b'), true);
  assert.equal(compileSecretGlob('*/x/**')('team/y/a'), false);
  assert.equal(matchesEveryPath('**'), true);
  assert.equal(matchesEveryPath('app/**'), false);
  assert.equal(matchesEveryPath('*'), false);
});

test('invalid globs are refused with a reason, and never compile', () => {
  const cases: [string, RegExp][] = [
    ['', /empty/],
    ['/app/*', /leading slash/],
    ['app/', /ends with "\/"/],
    ['app//x', /empty segment/],
    ['app/../x', /"\." or "\.\."/],
    ['app/**/x', /only be the last segment/],
    ['app/x**', /segment of its own/],
    ['app/?', /letters, digits/],
    ['app/[ab]', /letters, digits/],
    ['a'.repeat(257), /at most 256/],
  ];
  for (const [glob, reason] of cases) {
    assert.match(secretGlobProblem(glob) ?? '', reason, glob);
    assert.throws(() => compileSecretGlob(glob), reason);
  }
  for (const glob of ['**', '*', 'app/*', 'app/**', 'a/*-x/**', 'db/password']) assert.equal(secretGlobProblem(glob), undefined, glob);
});
