import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RegexSyntaxError, toRegExp } from './compiled-regex.js';
import { translateOsRegex } from './osregex.js';

const matches = (pattern: string, text: string): boolean => toRegExp(translateOsRegex(pattern)).test(text);

describe('translateOsRegex', () => {
  it('translates the classes to their OS_Regex character sets', () => {
    assert.deepEqual(translateOsRegex('^\\s*\\t*PermitRootLogin\\s*\\t*no'), {
      text: '^\\s*\\t*PermitRootLogin\\s*\\t*no',
      source: '^ *\\t*PermitRootLogin *\\t*no',
      flags: 'i',
    });
    assert.equal(matches('^\\w+$', 'user-name@host_1'), true, '\\w covers letters, digits, -, @ and _');
    assert.equal(matches('^\\w+$', 'a.b'), false);
    assert.equal(matches('a\\sb', 'a\tb'), false, '\\s is a space only');
    assert.equal(matches('a\\tb', 'a\tb'), true);
    assert.equal(matches('^\\p+$', '()*+,-.:;<=>?[]!"\'#$%&|{}'), true);
    assert.equal(matches('^\\p$', '/'), false);
    assert.equal(matches('^\\d\\D\\W\\S$', '1x.y'), true);
  });

  it('reads \\. as any character and . as a dot', () => {
    assert.equal(matches('password\\.+pam_unix.so\\.+sha512', 'password required pam_unix.so obscure sha512'), true);
    assert.equal(matches('pam_unix.so', 'pam_unixXso'), false);
  });

  it('repeats only the class before + or *; after other characters they are literal', () => {
    assert.equal(matches('^a+b$', 'a+b'), true);
    assert.equal(matches('^a+b$', 'aab'), false);
    assert.equal(matches('^\\d+$', '2024'), true);
    assert.equal(matches('^x\\d*y$', 'xy'), true);
  });

  it('anchors ^ and $ only at the ends of each alternative', () => {
    assert.equal(translateOsRegex('^a|b$').source, '(?:^a)|(?:b$)');
    assert.equal(matches('^a|b$', 'xa'), false);
    assert.equal(matches('^a|b$', 'bx'), false);
    assert.equal(matches('^a|b$', 'xb'), true);
    assert.equal(matches('a^b$c', 'a^b$c'), true, 'inside an alternative they are characters');
    assert.equal(matches('^\\w+:\\$1\\$', 'root:$1$salt'), true);
  });

  it('ignores case, as SCA compiles OS_Regex', () => {
    assert.equal(matches('^permitrootlogin no', 'PermitRootLogin No'), true);
  });

  it('keeps capture groups for numeric comparisons', () => {
    const match = toRegExp(translateOsRegex('^PASS_MAX_DAYS\\s*\\t*(\\d+)$')).exec('PASS_MAX_DAYS\t99999');
    assert.equal(match?.[1], '99999');
  });

  it('refuses what OS_Regex refuses', () => {
    assert.throws(() => translateOsRegex('a\\-b'), new RegexSyntaxError('OS_Regex has no escape \\- (it knows \\d \\w \\s \\t \\p \\W \\D \\S \\. and \\( \\) \\\\ \\$ \\| \\<)'));
    assert.throws(() => translateOsRegex('((a))'), /only one level of parentheses/);
    assert.throws(() => translateOsRegex('(a|b)'), /no "\|" inside parentheses/);
    assert.throws(() => translateOsRegex('(a'), /never closed/);
    assert.throws(() => translateOsRegex('a)'), /closes no/);
    assert.throws(() => translateOsRegex('a\\'), /lone backslash/);
  });
});
