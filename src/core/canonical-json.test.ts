import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalJson } from './canonical-json.js';

test('object keys are sorted, at every depth, with no white space', () => {
  assert.equal(canonicalJson({ b: 1, a: 2 }), '{"a":2,"b":1}');
  assert.equal(canonicalJson({ z: { y: 1, x: [{ d: 1, c: 2 }] }, a: null }), '{"a":null,"z":{"x":[{"c":2,"d":1}],"y":1}}');
});

test('equal values give equal text whatever order their keys were built in', () => {
  const one = { host: 'web-1', os: { name: 'Debian', id: 'debian' }, ports: [{ port: 22, protocol: 'tcp' }] };
  const two = { ports: [{ protocol: 'tcp', port: 22 }], os: { id: 'debian', name: 'Debian' }, host: 'web-1' };
  assert.equal(canonicalJson(one), canonicalJson(two));
});

test('keys sort by UTF-16 code units, not by locale or numeric value', () => {
  // Object.entries lists integer-like keys first and numerically; the output must not.
  assert.equal(canonicalJson({ 9: 'a', 10: 'b', a: 1, B: 2, é: 3, _: 4 }), '{"10":"b","9":"a","B":2,"_":4,"a":1,"é":3}');
});

test('array order is kept', () => {
  assert.equal(canonicalJson([3, 1, 2]), '[3,1,2]');
  assert.equal(canonicalJson([{ b: 1, a: 1 }, []]), '[{"a":1,"b":1},[]]');
  assert.notEqual(canonicalJson([1, 2]), canonicalJson([2, 1]));
});

test('undefined properties are dropped, as JSON.stringify drops them', () => {
  assert.equal(canonicalJson({ a: 1, b: undefined }), '{"a":1}');
  assert.equal(canonicalJson({ a: 1, b: undefined }), canonicalJson({ a: 1 }));
  assert.equal(canonicalJson({ nested: { gone: undefined } }), '{"nested":{}}');
});

test('undefined in an array becomes null, keeping positions', () => {
  assert.equal(canonicalJson([1, undefined, 3]), '[1,null,3]');
  assert.equal(canonicalJson([1, undefined, 3]), JSON.stringify([1, undefined, 3]));
});

test('scalars use JSON.stringify forms; a bare undefined is null', () => {
  assert.equal(canonicalJson(null), 'null');
  assert.equal(canonicalJson(undefined), 'null');
  assert.equal(canonicalJson(true), 'true');
  assert.equal(canonicalJson(0), '0');
  assert.equal(canonicalJson(-1.5), '-1.5');
  assert.equal(canonicalJson('a "quoted"\nline'), '"a \\"quoted\\"\\nline"');
  assert.equal(canonicalJson({ 'key "q"': 1 }), '{"key \\"q\\"":1}');
  assert.equal(canonicalJson({}), '{}');
  assert.equal(canonicalJson([]), '[]');
});

test('the output is valid JSON that reads back to an equal value', () => {
  const value = { b: [1, { y: 'x', x: null }], a: { c: true, d: 'é\u0000' } };
  assert.deepEqual(JSON.parse(canonicalJson(value)), value);
});
