import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatScaRule, parseScaRule } from './parse-rule.js';
import { RuleSyntaxError } from './rule-syntax-error.js';

const pcre2 = { dialect: 'pcre2' as const, variables: new Map<string, string>() };

describe('parseScaRule', () => {
  it('parses a file rule with a content pattern of several minterms', () => {
    assert.deepEqual(parseScaRule("f:/etc/sudoers -> !r:^# && r:NOPASSWD", pcre2), {
      kind: 'sca',
      text: 'f:/etc/sudoers -> !r:^# && r:NOPASSWD',
      negated: false,
      type: 'file',
      location: '/etc/sudoers',
      paths: ['/etc/sudoers'],
      content: {
        text: '!r:^# && r:NOPASSWD',
        minterms: [
          { kind: 'regex', negated: true, text: '!r:^#', regex: { text: '^#', source: '^#', flags: '' } },
          { kind: 'regex', negated: false, text: 'r:NOPASSWD', regex: { text: 'NOPASSWD', source: 'NOPASSWD', flags: '' } },
        ],
      },
    });
  });

  it('parses not, numeric comparisons and literal minterms', () => {
    const rule = parseScaRule('not f:/etc/shadow -> n:^\\w+:\\$.*:\\d+:(\\d+): compare == 0 && root', { ...pcre2, dialect: 'osregex' });
    assert.equal(rule.negated, true);
    assert.ok(rule.type === 'file');
    assert.deepEqual(rule.content?.minterms.map((m) => ({ ...m, regex: undefined })), [
      { kind: 'numeric', negated: false, text: 'n:^\\w+:\\$.*:\\d+:(\\d+): compare == 0', regex: undefined, operator: '==', value: 0 },
      { kind: 'literal', negated: false, text: 'root', value: 'root', ignoreCase: true, regex: undefined },
    ]);
  });

  it('splits a directory rule into directories, file name and content', () => {
    const rule = parseScaRule('d:/etc/audit/rules.d,/etc/audit -> r:.+\\.rules$ -> r:-e 2', pcre2);
    assert.ok(rule.type === 'directory');
    assert.deepEqual(rule.paths, ['/etc/audit/rules.d', '/etc/audit']);
    assert.equal(rule.fileName?.text, 'r:.+\\.rules$');
    assert.equal(rule.content?.text, 'r:-e 2');
  });

  it('keeps everything after the first -> of a command rule as its pattern, as Wazuh does', () => {
    const rule = parseScaRule('c:auditctl -l -> r:.+\\.rules$ -> r:^-w', pcre2);
    assert.ok(rule.type === 'command');
    assert.equal(rule.command, 'auditctl -l');
    assert.deepEqual(rule.content?.minterms.map((m) => m.text), ['r:.+\\.rules$ -> r:^-w']);
  });

  it('substitutes variables in the location only, longest name first', () => {
    const variables = new Map([
      ['$sshd', '/nope'],
      ['$sshd_file', '/etc/ssh/sshd_config'],
      ['$pam', '/etc/pam.d/a,/etc/pam.d/b'],
    ]);
    const file = parseScaRule('f:$sshd_file -> r:$sshd', { dialect: 'pcre2', variables });
    assert.ok(file.type === 'file');
    assert.deepEqual(file.paths, ['/etc/ssh/sshd_config']);
    assert.equal(file.location, '$sshd_file');
    assert.equal(file.content?.minterms[0]?.text, 'r:$sshd');
    const list = parseScaRule('f:$pam', { dialect: 'pcre2', variables });
    assert.ok(list.type === 'file');
    assert.deepEqual(list.paths, ['/etc/pam.d/a', '/etc/pam.d/b']);
  });

  it('parses process rules as patterns', () => {
    const rule = parseScaRule('p:r:^sshd', pcre2);
    assert.ok(rule.type === 'process');
    assert.equal(rule.process.minterms[0]?.kind, 'regex');
  });

  it('writes every rule back as it was written', () => {
    for (const text of [
      'f:/etc/passwd',
      'not f:/etc/motd -> r:\\\\v|\\\\r',
      'd:/etc/sudoers.d/ -> !r:^# && r:.* -> r:NOPASSWD',
      'c:sshd -T -> n:^maxstartups\\s+(\\d+):\\d+:\\d+ compare <= 10',
      'p:sshd',
      'd:/etc/audit/rules.d',
    ]) {
      assert.equal(formatScaRule(parseScaRule(text, pcre2)), text);
    }
  });

  it('refuses malformed rules with the problem and what to do', () => {
    const refused = (text: string, message: string, hint: string): void => {
      assert.throws(() => parseScaRule(text, pcre2), (err: unknown) => {
        assert.ok(err instanceof RuleSyntaxError);
        assert.equal(err.message, message);
        assert.equal(err.hint, hint);
        return true;
      });
    };
    refused('x:/etc/passwd', 'unknown rule type "x:"', 'rules start with f:, d:, p:, c: or not');
    refused('/etc/passwd', 'unknown rule type "/etc/passwd"', 'rules start with f:, d:, p:, c: or not');
    refused('r:HKLM\\SOFTWARE', 'registry rules (r:) exist only on Windows', 'remove the rule; this engine audits Linux hosts');
    refused('!f:/etc/passwd', '"!f:": a leading "!" does not negate a rule', 'write "not f:…"');
    refused('f:etc/passwd', 'f: path "etc/passwd" is not absolute', 'paths start with /');
    refused('f:$missing -> r:x', 'undefined variable $missing', 'define it under variables:');
    refused('f:/etc/x -> r:(a', 'bad pcre2 regex "(a": Unterminated group', 'fix the regular expression');
    refused('f:/etc/x -> n:^a(\\d+) <= 3', 'numeric pattern "n:^a(\\d+) <= 3" has no comparison', 'write n:REGEX compare <OPERATOR> <NUMBER>, e.g. n:^\\s*MaxAuthTries\\s+(\\d+) compare <= 4');
    refused('f:/etc/x -> n:^a(\\d+) compare ~ 3', 'numeric pattern "n:^a(\\d+) compare ~ 3": bad comparison "~ 3"', 'the operator is one of <, <=, ==, !=, >=, > and the value an integer');
    refused('f:/etc/x -> n:^a\\d+ compare < 3', 'numeric pattern "n:^a\\d+ compare < 3" captures no number', 'put the number in parentheses, e.g. (\\d+)');
    refused('c:echo "a -> r:x', 'unterminated double quote in command: echo "a', 'close the quote');
  });
});
