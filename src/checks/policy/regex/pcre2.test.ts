import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { toRegExp } from './compiled-regex.js';
import { translatePcre2 } from './pcre2.js';

const matches = (pattern: string, text: string): boolean => toRegExp(translatePcre2(pattern)).test(text);

describe('translatePcre2', () => {
  it('passes what JavaScript shares with PCRE2 through unchanged, case-sensitive', () => {
    assert.deepEqual(translatePcre2('^[\\w@-]+:\\S*:(\\d+)'), { text: '^[\\w@-]+:\\S*:(\\d+)', source: '^[\\w@-]+:\\S*:(\\d+)', flags: '' });
    assert.equal(matches('^PermitRootLogin\\s+no', 'permitrootlogin no'), false);
  });

  it('rewrites \\h, \\A, \\z, \\Q…\\E, \\x{…} and POSIX classes', () => {
    assert.equal(matches('^\\h*deny\\h*=\\h*(\\d+)', ' \tdeny = 5'), true);
    assert.equal(matches('\\Aabc\\z', 'abc'), true);
    assert.equal(matches('\\Q1.2*\\E$', 'v1.2*'), true);
    assert.equal(matches('\\Q1.2*\\E$', 'v102'), false);
    assert.equal(matches('\\x{41}', 'A'), true);
    assert.equal(matches('^[[:digit:]]+[[:space:]]$', '42 '), true);
  });

  it('takes a leading (?i), named groups, possessive quantifiers and atomic groups', () => {
    assert.deepEqual(translatePcre2('(?i)^maxauthtries'), { text: '(?i)^maxauthtries', source: '^maxauthtries', flags: 'i' });
    assert.equal(toRegExp(translatePcre2('(?P<n>\\d+)')).exec('x12')?.groups?.n, '12');
    assert.equal(translatePcre2('a++b*+(?>c)').source, 'a+b*(?:c)');
  });

  it('refuses what it cannot translate or compile', () => {
    assert.throws(() => translatePcre2('a(?i)b'), /only at the very start/);
    assert.throws(() => translatePcre2('[[:nope:]]'), /unknown POSIX class/);
    assert.throws(() => translatePcre2('(a'), /Unterminated group/);
  });
});
