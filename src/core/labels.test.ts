import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BulwarkError } from './errors.js';
import { assertLabels, isValidLabelKey, isValidLabelValue, matchesSelector, parseLabels, parseSelector, type Labels } from './labels.js';

/** The 1-based position an INVALID_SELECTOR error names, or a failed assertion. */
function errorPosition(selector: string): number {
  try {
    parseSelector(selector);
  } catch (err) {
    assert.ok(err instanceof BulwarkError, `expected a BulwarkError for ${JSON.stringify(selector)}`);
    assert.equal(err.code, 'INVALID_SELECTOR');
    const match = /invalid at position (\d+): /.exec(err.message);
    assert.ok(match?.[1], `no position in "${err.message}"`);
    return Number(match[1]);
  }
  assert.fail(`selector ${JSON.stringify(selector)} was accepted`);
}

const matches = (selector: string, labels: Labels): boolean => matchesSelector(parseSelector(selector), labels);

test('parseSelector reads equality, set and existence requirements', () => {
  assert.deepEqual(parseSelector('env=prod').requirements, [{ key: 'env', op: 'in', values: ['prod'] }]);
  assert.deepEqual(parseSelector('env==prod').requirements, [{ key: 'env', op: 'in', values: ['prod'] }]);
  assert.deepEqual(parseSelector('env!=prod').requirements, [{ key: 'env', op: 'notin', values: ['prod'] }]);
  assert.deepEqual(parseSelector('tier in (web,db)').requirements, [{ key: 'tier', op: 'in', values: ['web', 'db'] }]);
  assert.deepEqual(parseSelector('tier notin (cache)').requirements, [{ key: 'tier', op: 'notin', values: ['cache'] }]);
  assert.deepEqual(parseSelector('gpu').requirements, [{ key: 'gpu', op: 'exists' }]);
  assert.deepEqual(parseSelector('!gpu').requirements, [{ key: 'gpu', op: 'notexists' }]);
});

test('parseSelector joins requirements with commas, in order', () => {
  const selector = parseSelector('env=prod,tier in (web,db),!legacy,gpu');
  assert.deepEqual(selector.requirements, [
    { key: 'env', op: 'in', values: ['prod'] },
    { key: 'tier', op: 'in', values: ['web', 'db'] },
    { key: 'legacy', op: 'notexists' },
    { key: 'gpu', op: 'exists' },
  ]);
  assert.equal(selector.source, 'env=prod,tier in (web,db),!legacy,gpu');
});

test('parseSelector allows white space around every token, tabs included', () => {
  const spaced = parseSelector('  env = prod ,  tier  in  ( web ,  db )  , ! legacy , gpu  ');
  assert.deepEqual(spaced.requirements, parseSelector('env=prod,tier in (web,db),!legacy,gpu').requirements);
  assert.equal(spaced.source, 'env = prod ,  tier  in  ( web ,  db )  , ! legacy , gpu');
  assert.deepEqual(parseSelector('tier in(web)').requirements, [{ key: 'tier', op: 'in', values: ['web'] }]);
  assert.deepEqual(parseSelector('tier\tin\t(web,\tdb),\tenv\t!=\tdev').requirements, [
    { key: 'tier', op: 'in', values: ['web', 'db'] },
    { key: 'env', op: 'notin', values: ['dev'] },
  ]);
});

test('an empty or blank selector selects everything', () => {
  for (const blank of ['', '   ', '\t']) {
    const selector = parseSelector(blank);
    assert.deepEqual(selector.requirements, []);
    assert.equal(selector.source, '');
    assert.equal(matchesSelector(selector, {}), true);
    assert.equal(matchesSelector(selector, { env: 'prod' }), true);
  }
});

test('keys may carry a DNS prefix; "in" and "notin" are ordinary keys before an operator', () => {
  assert.deepEqual(parseSelector('example.com/role=db').requirements, [{ key: 'example.com/role', op: 'in', values: ['db'] }]);
  assert.deepEqual(parseSelector('in=x').requirements, [{ key: 'in', op: 'in', values: ['x'] }]);
  assert.deepEqual(parseSelector('notin in (a)').requirements, [{ key: 'notin', op: 'in', values: ['a'] }]);
  assert.deepEqual(parseSelector('in').requirements, [{ key: 'in', op: 'exists' }]);
});

test('as in Kubernetes, an empty value is a value: "env=" and "in ()" mean the empty string', () => {
  assert.deepEqual(parseSelector('env=').requirements, [{ key: 'env', op: 'in', values: [''] }]);
  assert.deepEqual(parseSelector('env=,tier=web').requirements, [
    { key: 'env', op: 'in', values: [''] },
    { key: 'tier', op: 'in', values: ['web'] },
  ]);
  assert.deepEqual(parseSelector('tier in ()').requirements, [{ key: 'tier', op: 'in', values: [''] }]);
  assert.equal(matches('env=', { env: '' }), true);
  assert.equal(matches('env=', { env: 'prod' }), false);
  assert.equal(matches('env=', {}), false);
});

test('malformed selectors fail with INVALID_SELECTOR at the position of the fault', () => {
  const cases: [string, number][] = [
    ['=x', 1], // no key
    ['env=prod,=x', 10],
    ['a b', 3], // two keys without an operator
    ['env=prod,', 10], // trailing comma: a key was expected past the end
    [',env=prod', 1],
    ['tier in (a', 11], // unterminated list: past the end
    ['tier in (a b)', 12],
    ['tier notin a', 6], // "notin" not followed by "(" is a stray word
    ['!', 2],
    ['!gpu=x', 5], // "!" takes a key only
    ['env=prod tier=web', 10],
    ['env=pr@d', 7], // the value stops at "@"
    ['env>5', 4],
    ['env=a=b', 6],
    ['env:prod', 4],
  ];
  for (const [selector, position] of cases) {
    assert.equal(errorPosition(selector), position, selector);
  }
});

test('a bad key or value is reported where it starts, and says why', () => {
  assert.throws(() => parseSelector('-a=b'), { code: 'INVALID_SELECTOR', message: /position 1: "-a" is not a valid label key/ });
  assert.throws(() => parseSelector('env=-prod'), { code: 'INVALID_SELECTOR', message: /position 5: "-prod" is not a valid label value/ });
  assert.throws(() => parseSelector('env=prod,tier in (web,db_)'), { code: 'INVALID_SELECTOR', message: /position 23: "db_" is not a valid label value/ });
  assert.throws(() => parseSelector('!Example.com/x'), { code: 'INVALID_SELECTOR', message: /position 2: "Example.com\/x" is not a valid label key/ });
  assert.throws(() => parseSelector(`${'k'.repeat(64)}=v`), { code: 'INVALID_SELECTOR', message: /position 1: .* is not a valid label key/ });
  assert.throws(() => parseSelector(`k=${'v'.repeat(64)}`), { code: 'INVALID_SELECTOR', message: /position 3: .* is not a valid label value/ });
  assert.throws(() => parseSelector('a/b/c'), { code: 'INVALID_SELECTOR', message: /"a\/b\/c" is not a valid label key/ });
});

test('positions count from the selector as given, leading white space included', () => {
  assert.equal(errorPosition('  =x'), 3);
  assert.equal(errorPosition('\t a b'), 5);
  assert.throws(() => parseSelector('  env=prod,'), { message: /^selector " {2}env=prod," is invalid at position 12: expected a label key$/ });
});

test('the error message quotes the selector and names what was expected', () => {
  assert.throws(() => parseSelector('a b'), {
    name: 'BulwarkError',
    code: 'INVALID_SELECTOR',
    message: 'selector "a b" is invalid at position 3: expected "=", "==", "!=", "in (…)", "notin (…)" or ","',
  });
  assert.throws(() => parseSelector('tier in (a'), { message: /expected "," or "\)" in a value list$/ });
  assert.throws(() => parseSelector('=x'), { message: /expected a label key$/ });
});

test('matchesSelector: equality and inequality', () => {
  assert.equal(matches('env=prod', { env: 'prod' }), true);
  assert.equal(matches('env==prod', { env: 'prod', tier: 'web' }), true);
  assert.equal(matches('env=prod', { env: 'dev' }), false);
  assert.equal(matches('env=prod', {}), false);
  assert.equal(matches('env=prod', { Env: 'prod' }), false); // keys are case-sensitive
  assert.equal(matches('env=prod', { env: 'Prod' }), false); // and so are values
  // As in Kubernetes, != and notin also select nodes without the label.
  assert.equal(matches('env!=prod', { env: 'dev' }), true);
  assert.equal(matches('env!=prod', {}), true);
  assert.equal(matches('env!=prod', { env: 'prod' }), false);
});

test('matchesSelector: set membership', () => {
  assert.equal(matches('tier in (web,db)', { tier: 'web' }), true);
  assert.equal(matches('tier in (web,db)', { tier: 'db' }), true);
  assert.equal(matches('tier in (web,db)', { tier: 'cache' }), false);
  assert.equal(matches('tier in (web,db)', {}), false);
  assert.equal(matches('tier notin (cache)', { tier: 'web' }), true);
  assert.equal(matches('tier notin (cache)', {}), true);
  assert.equal(matches('tier notin (cache,queue)', { tier: 'queue' }), false);
});

test('matchesSelector: existence, with empty values counting as present', () => {
  assert.equal(matches('gpu', { gpu: '' }), true);
  assert.equal(matches('gpu', { gpu: 'a100' }), true);
  assert.equal(matches('gpu', {}), false);
  assert.equal(matches('!gpu', {}), true);
  assert.equal(matches('!gpu', { gpu: '' }), false);
});

test('matchesSelector requires every requirement (AND)', () => {
  const selector = parseSelector('env=prod,tier in (web,db),!legacy');
  assert.equal(matchesSelector(selector, { env: 'prod', tier: 'db' }), true);
  assert.equal(matchesSelector(selector, { env: 'prod', tier: 'db', legacy: 'yes' }), false);
  assert.equal(matchesSelector(selector, { env: 'dev', tier: 'db' }), false);
  assert.equal(matchesSelector(selector, { env: 'prod' }), false);
  // Contradictory requirements select nothing.
  assert.equal(matches('env=a,env=b', { env: 'a' }), false);
});

test('matchesSelector reads only own labels, never inherited properties', () => {
  assert.equal(matches('toString', {}), false);
  assert.equal(matches('!constructor', {}), true);
  assert.equal(matches('constructor notin (x)', {}), true);
});

test('isValidLabelKey follows the Kubernetes rules', () => {
  for (const ok of ['a', 'env', 'A1', 'a.b-c_d', 'k'.repeat(63), 'example.com/role', 'a/b', `${'p'.repeat(253)}/n`]) {
    assert.equal(isValidLabelKey(ok), true, ok);
  }
  for (const bad of ['', '-a', 'a-', '_a', '.a', 'k'.repeat(64), '/a', 'a/', 'Example.com/a', 'a b', 'a=b', 'a/b/c', `${'p'.repeat(254)}/n`, 'é']) {
    assert.equal(isValidLabelKey(bad), false, bad);
  }
});

test('isValidLabelValue allows the empty string and at most 63 characters', () => {
  for (const ok of ['', 'a', 'prod', 'v1.2_3-x', 'v'.repeat(63)]) assert.equal(isValidLabelValue(ok), true, ok);
  for (const bad of ['-a', 'a-', 'a b', 'a/b', 'v'.repeat(64), 'ü']) assert.equal(isValidLabelValue(bad), false, bad);
});

test('parseLabels reads key=value pairs, splitting at the first "="', () => {
  assert.deepEqual(parseLabels([]), {});
  assert.deepEqual(parseLabels(['env=prod', 'tier=web', 'example.com/team=sre']), { env: 'prod', tier: 'web', 'example.com/team': 'sre' });
  assert.deepEqual(parseLabels(['empty=']), { empty: '' });
  assert.deepEqual(parseLabels(['env=dev', 'env=prod']), { env: 'prod' }); // the last one wins
  assert.throws(() => parseLabels(['a=b=c']), { code: 'INVALID_LABEL', message: /label value "b=c" for "a" is invalid/ });
});

test('parseLabels refuses pairs without a key or "=", and bad keys and values, naming them', () => {
  assert.throws(() => parseLabels(['env']), { code: 'INVALID_LABEL', message: 'label "env" is not of the form key=value' });
  assert.throws(() => parseLabels(['=prod']), { code: 'INVALID_LABEL', message: 'label "=prod" is not of the form key=value' });
  assert.throws(() => parseLabels(['']), { code: 'INVALID_LABEL' });
  assert.throws(() => parseLabels(['ok=1', '-bad=1']), { code: 'INVALID_LABEL', message: /^label key "-bad" is invalid/ });
  assert.throws(() => parseLabels(['env=pr od']), { code: 'INVALID_LABEL', message: /^label value "pr od" for "env" is invalid/ });
  assert.throws(() => parseLabels([`env=${'x'.repeat(64)}`]), { code: 'INVALID_LABEL', message: /at most 63/ });
});

test('assertLabels checks every entry of a label map', () => {
  assert.doesNotThrow(() => assertLabels({ env: 'prod', gpu: '' }));
  assert.throws(() => assertLabels({ env: 'prod', 'bad key': 'x' }), { code: 'INVALID_LABEL', message: /label key "bad key"/ });
  assert.throws(() => assertLabels({ env: 'prod!' }), { code: 'INVALID_LABEL', message: /label value "prod!"/ });
});
