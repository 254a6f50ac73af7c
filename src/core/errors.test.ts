import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BulwarkError, ERROR_CATALOGUE, errorBody, isBulwarkError, isErrorCode, type ErrorCode } from './errors.js';

// As fastify tests lib/errors.js against docs/Reference/Errors.md: the catalogue and
// its documentation must list the same codes with the same numbers.
const DOCS_PATH = fileURLToPath(new URL('../../docs/errors.md', import.meta.url));

interface DocumentedCode {
  status: number;
  exit: number;
  meaning: string;
  action: string;
}

/** Every table row of docs/errors.md whose first cell is a code in backticks. */
function documentedCodes(): Map<string, DocumentedCode[]> {
  const rows = new Map<string, DocumentedCode[]>();
  for (const line of readFileSync(DOCS_PATH, 'utf8').split('\n')) {
    const match = /^\|\s*`([^`]+)`\s*\|(.*)\|\s*$/.exec(line);
    if (!match?.[1] || match[2] === undefined) continue;
    const cells = match[2].split(' | ').map((c) => c.trim());
    const [status, exit, meaning, action] = cells;
    const entry = { status: Number(status), exit: Number(exit), meaning: meaning ?? '', action: action ?? '' };
    rows.set(match[1], [...(rows.get(match[1]) ?? []), entry]);
  }
  return rows;
}

const CODES = Object.keys(ERROR_CATALOGUE) as ErrorCode[];

test('docs/errors.md documents every code once, with its HTTP status and exit code', () => {
  const documented = documentedCodes();
  for (const code of CODES) {
    const rows = documented.get(code);
    assert.ok(rows, `${code} is missing from docs/errors.md`);
    assert.equal(rows.length, 1, `${code} is documented ${rows.length} times`);
    const [row] = rows;
    assert.ok(row);
    assert.equal(row.status, ERROR_CATALOGUE[code].status, `${code}: HTTP status in docs/errors.md`);
    assert.equal(row.exit, ERROR_CATALOGUE[code].exit, `${code}: exit code in docs/errors.md`);
    // Code spans (backticks) are Markdown only; the words must be the catalogue's.
    assert.equal(row.meaning.replace(/`/g, ''), ERROR_CATALOGUE[code].description, `${code}: meaning in docs/errors.md`);
    assert.ok(row.action.length > 10, `${code}: docs/errors.md says nothing about what to do`);
  }
});

test('docs/errors.md lists no code that the catalogue does not have', () => {
  const unknown = [...documentedCodes().keys()].filter((code) => !isErrorCode(code));
  assert.deepEqual(unknown, []);
});

test('docs/errors.md is read: the table is not empty', () => {
  assert.equal(documentedCodes().size, CODES.length);
});

test('every code maps to an HTTP error status and a non-zero exit code', () => {
  for (const [code, entry] of Object.entries(ERROR_CATALOGUE)) {
    assert.match(code, /^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$/, code);
    assert.ok(Number.isInteger(entry.status) && entry.status >= 400 && entry.status <= 599, `${code}: status ${entry.status}`);
    assert.ok(Number.isInteger(entry.exit) && entry.exit > 0 && entry.exit < 126, `${code}: exit ${entry.exit}`);
    assert.ok(entry.description.endsWith('.'), `${code}: description should be a sentence`);
  }
});

test('only unexpected failures exit 1; expected refusals use their own statuses', () => {
  const exitOne = CODES.filter((code) => ERROR_CATALOGUE[code].exit === 1);
  assert.deepEqual(exitOne, ['INTERNAL']);
  // 2 is also commander's usage exit, so every 2 must be a bad-input 4xx.
  for (const code of CODES.filter((c) => ERROR_CATALOGUE[c].exit === 2)) {
    assert.ok(ERROR_CATALOGUE[code].status >= 400 && ERROR_CATALOGUE[code].status < 500, code);
  }
});

test('BulwarkError carries its code, message, details, status and exit code', () => {
  const err = new BulwarkError('RATE_LIMITED', 'retry in 5 s', { retryAfterMs: 5000 });
  assert.ok(err instanceof Error);
  assert.equal(err.name, 'BulwarkError');
  assert.equal(err.code, 'RATE_LIMITED');
  assert.equal(err.message, 'retry in 5 s');
  assert.deepEqual(err.details, { retryAfterMs: 5000 });
  assert.equal(err.status, 429);
  assert.equal(err.exitCode, 6);
  assert.equal(new BulwarkError('INTERNAL', 'x').details, undefined);
});

test('errorBody exposes the code and message only, never details', () => {
  const err = new BulwarkError('NOT_FOUND', 'no such node', { secret: 'do-not-leak' });
  assert.deepEqual(errorBody(err), { error: { code: 'NOT_FOUND', message: 'no such node' } });
  assert.equal(JSON.stringify(errorBody(err)).includes('do-not-leak'), false);
});

test('isErrorCode accepts catalogue codes only, not inherited names or other values', () => {
  for (const code of CODES) assert.equal(isErrorCode(code), true, code);
  for (const value of ['toString', 'constructor', '__proto__', 'hasOwnProperty', 'not_found', '', 'ECONNREFUSED', undefined, null, 404, {}]) {
    assert.equal(isErrorCode(value), false, String(value));
  }
});

test('isBulwarkError tells a BulwarkError from look-alikes', () => {
  assert.equal(isBulwarkError(new BulwarkError('CONFLICT', 'x')), true);
  assert.equal(isBulwarkError(Object.assign(new Error('x'), { code: 'CONFLICT' })), false);
  assert.equal(isBulwarkError({ name: 'BulwarkError', code: 'CONFLICT', message: 'x' }), false);
  assert.equal(isBulwarkError(undefined), false);
});
