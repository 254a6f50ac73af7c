import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { BulwarkError } from '../../core/errors.js';
import { parsePolicy } from './parse.js';
import { RULE_TYPES } from './rules/index.js';

/** The one line a malformed policy is refused with, after checking it is an INVALID_POLICY with matching details. */
function refusal(text: string, file = 'p.yml'): string {
  try {
    parsePolicy(text, file);
  } catch (err) {
    assert.ok(err instanceof BulwarkError);
    assert.equal(err.code, 'INVALID_POLICY');
    const { line, column } = err.details as { line: number; column: number };
    assert.ok(err.message.startsWith(`${file}:${line}:${column}: `), err.message);
    return err.message;
  }
  assert.fail('the policy was accepted');
}

const SCA_HEAD = `policy:
  id: test_sca
  name: Test
checks:
`;

const NATIVE = `policy:
  id: linux-baseline
  name: Linux baseline
  description: Bulwark's own checks.
  format: bulwark/v1
  references: [https://example.org/baseline]
requirements:
  title: A Debian system
  condition: all
  rules:
    - 'f:/etc/debian_version'
variables:
  $sshd: /etc/ssh/sshd_config
checks:
  - id: ssh-root-login
    title: SSH refuses root logins
    severity: high
    rationale: Root is the account every attacker tries.
    remediation: Set PermitRootLogin no in /etc/ssh/sshd_config.
    references: [https://man.openbsd.org/sshd_config]
    compliance: { cis: ['5.1.20'], nist_800_53: [AC-6] }
    applies_when: { condition: any, rules: [{ package: openssh-server, installed: true }] }
    condition: all
    rules:
      - { config: $sshd, key: PermitRootLogin, in: ['no', prohibit-password], default: prohibit-password, include: true }
      - 'not f:$sshd -> r:^\\s*PermitEmptyPasswords\\s+yes'
  - id: shadow-mode
    title: /etc/shadow is not readable by others
    severity: medium
    rationale: Hashes can be cracked offline.
    remediation: chmod 0640 /etc/shadow
    condition: all
    rules:
      - { file: /etc/shadow, mode_max: '0640', owner: root, group: [root, shadow], not: false }
`;

describe('parsePolicy: native format', () => {
  it('parses every field into plain, JSON-serialisable data', () => {
    const policy = parsePolicy(NATIVE, 'baseline.yml');
    assert.deepEqual(JSON.parse(JSON.stringify(policy)), policy);
    assert.equal(policy.format, 'bulwark/v1');
    assert.equal(policy.id, 'linux-baseline');
    assert.equal(policy.description, "Bulwark's own checks.");
    assert.deepEqual(policy.references, ['https://example.org/baseline']);
    assert.equal(policy.requirements?.title, 'A Debian system');
    const [ssh, shadow] = policy.checks;
    assert.ok(ssh && shadow);
    assert.equal(ssh.severity, 'high');
    assert.deepEqual(ssh.compliance, { cis: ['5.1.20'], nist_800_53: ['AC-6'] });
    assert.deepEqual(ssh.appliesWhen, { condition: 'any', rules: [{ kind: 'typed', type: 'package', negated: false, options: { package: 'openssh-server', installed: true } }] });
    assert.deepEqual(ssh.rules[0], {
      kind: 'typed',
      type: 'config',
      negated: false,
      options: { config: '/etc/ssh/sshd_config', key: 'PermitRootLogin', in: ['no', 'prohibit-password'], default: 'prohibit-password', include: true },
    });
    const sca = ssh.rules[1];
    assert.ok(sca?.kind === 'sca' && sca.type === 'file');
    assert.equal(sca.negated, true);
    assert.deepEqual(sca.paths, ['/etc/ssh/sshd_config']);
    assert.deepEqual(sca.content?.minterms[0], {
      kind: 'regex',
      negated: false,
      text: 'r:^\\s*PermitEmptyPasswords\\s+yes',
      regex: { text: '^\\s*PermitEmptyPasswords\\s+yes', source: '^\\s*PermitEmptyPasswords\\s+yes', flags: '' },
    });
    assert.deepEqual(shadow.rules, [{ kind: 'typed', type: 'file', negated: false, options: { file: '/etc/shadow', mode_max: '0640', owner: 'root', group: ['root', 'shadow'] } }]);
  });

  it('refuses malformed native policies with file, line, column and what to do', () => {
    assert.equal(refusal(NATIVE.replace('  name: Linux baseline\n', '  name: Linux baseline\n  colour: blue\n')), 'p.yml:4:3: policy: unknown field "colour" (known fields: id, name, description, format, references)');
    assert.equal(refusal(NATIVE.replace('    title: SSH refuses root logins\n', '')), 'p.yml:15:5: check ssh-root-login: missing title (add title:)');
    assert.equal(refusal(NATIVE.replace('id: shadow-mode', 'id: ssh-root-login')), 'p.yml:27:9: duplicate check id "ssh-root-login" (first used at line 15) (give each check its own id)');
    assert.equal(refusal(NATIVE.replace('id: shadow-mode', 'id: Shadow_Mode')), 'p.yml:27:9: check id "Shadow_Mode" is not a valid id (use 2 to 63 lower-case letters, digits, "." and "-", such as ssh-root-login)');
    assert.equal(refusal(NATIVE.replace('severity: medium', 'severity: severe')), 'p.yml:29:15: check shadow-mode: unknown severity "severe" (use one of critical, high, medium, low, info)');
    assert.equal(refusal(NATIVE.replace("mode_max: '0640'", 'mode_max: 0640')), "p.yml:34:40: check shadow-mode: file rule: mode_max: must be a quoted octal mode such as '0640' (unquoted, 0640 is read as the number 640) (see the file rule in the policy documentation)");
    assert.equal(refusal(NATIVE.replace('owner: root,', 'ower: root,')), 'p.yml:34:48: check shadow-mode: file rule: unknown option "ower" (file takes: file, exists, mode_max, owner, group, if_missing)');
    assert.equal(refusal(NATIVE.replace('{ file: /etc/shadow,', '{ fyle: /etc/shadow,')), `p.yml:34:11: check shadow-mode: unknown rule "fyle" (a rule object starts with one of: ${[...RULE_TYPES.keys()].join(', ')})`);
    assert.equal(refusal(NATIVE.replace('not: false', 'not: maybe')), 'p.yml:34:89: check shadow-mode: file rule: not must be true or false (write not: true, or leave it out)');
    assert.equal(refusal(NATIVE.replace("key: PermitRootLogin, in: ['no', prohibit-password]", 'key: PermitRootLogin, matches: "(a"')), 'p.yml:25:57: check ssh-root-login: config rule: matches: not a valid regular expression: Unterminated group (see the config rule in the policy documentation)');
    assert.equal(refusal(NATIVE.replace('condition: all\n    rules:\n      - { file', 'condition: most\n    rules:\n      - { file')), 'p.yml:32:16: check shadow-mode: unknown condition "most" (use all, any or none)');
    assert.equal(refusal(NATIVE.replace("'not f:$sshd -> r:^\\s*PermitEmptyPasswords\\s+yes'", "'x:/etc/passwd'")), 'p.yml:26:9: check ssh-root-login: unknown rule type "x:" (rules start with f:, d:, p:, c: or not)');
    assert.equal(refusal(NATIVE.replace('format: bulwark/v1', 'format: bulwark/v9')), 'p.yml:5:11: unknown policy format "bulwark/v9" (write format: bulwark/v1, or leave it out for a Wazuh SCA policy)');
  });
});

describe('parsePolicy: Wazuh SCA format', () => {
  it('reads title or name, both compliance shapes, requirements and variables', () => {
    const policy = parsePolicy(
      `policy:
  id: "unix_audit"
  file: "sca_unix_audit.yml"
  name: "System audit"
  references:
    - https://www.ssh.com/ssh/
requirements:
  title: "SSH present"
  description: "…"
  condition: any
  rules:
    - "f:$sshd_file"
variables:
  $sshd_file: /etc/ssh/sshd_config
checks:
  - id: 3000
    title: "Port should not be 22"
    rationale: "r"
    remediation: "m"
    impact: ignored, as Wazuh ignores it
    compliance:
      - pci_dss: ["2.2.4"]
      - nist_800_53: ["CM.1"]
    condition: all
    rules:
      - 'f:$sshd_file -> !r:^# && r:Port && !r:\\s*\\t*22$'
  - id: 3001
    name: "Written the Wazuh 5 way"
    compliance:
      cis: ["5.2.1", 1.1]
    condition: none
    rules:
      - 'f:/etc/x -> r:[\\w@-]+'
`,
      'sca_unix_audit.yml',
    );
    assert.equal(policy.format, 'wazuh-sca');
    assert.equal(policy.file, 'sca_unix_audit.yml');
    assert.deepEqual(policy.requirements?.rules.map((r) => r.kind === 'sca' && r.type === 'file' && r.paths), [['/etc/ssh/sshd_config']]);
    const [a, b] = policy.checks;
    assert.deepEqual({ id: a?.id, title: a?.title, severity: a?.severity, compliance: a?.compliance }, { id: '3000', title: 'Port should not be 22', severity: 'medium', compliance: { pci_dss: ['2.2.4'], nist_800_53: ['CM.1'] } });
    assert.deepEqual({ id: b?.id, title: b?.title, compliance: b?.compliance, condition: b?.condition }, { id: '3001', title: 'Written the Wazuh 5 way', compliance: { cis: ['5.2.1', '1.1'] }, condition: 'none' });
    // A check written with `name` makes this a Wazuh 5 policy, read with PCRE2 throughout.
    const flags = policy.checks.map((c) => (c.rules[0]?.kind === 'sca' && c.rules[0].type === 'file' ? c.rules[0].content?.minterms.map((m) => (m.kind === 'regex' ? m.regex.source : '')) : []));
    assert.deepEqual(flags, [
      ['^#', 'Port', '\\s*\\t*22$'],
      ['[\\w@-]+'],
    ]);
  });

  it('takes regex_type from the check, else the policy, else the policy shape', () => {
    const text = (policyType: string, checkType: string): string =>
      `policy: { id: p, name: n${policyType} }\nchecks:\n  - { id: 1, title: t, condition: all, rules: ['f:/x -> r:a\\d+'] ${checkType}}\n`;
    const source = (t: string): string | undefined => {
      const rule = parsePolicy(t, 'p.yml').checks[0]?.rules[0];
      return rule?.kind === 'sca' && rule.type === 'file' && rule.content?.minterms[0]?.kind === 'regex' ? rule.content.minterms[0].regex.source : undefined;
    };
    assert.equal(source(text('', '')), 'a[0-9]+');
    assert.equal(source(text('', '').replace('title: t', 'name: t')), 'a\\d+');
    assert.equal(source(text(', regex_type: pcre2', '')), 'a\\d+');
    assert.equal(source(text(', regex_type: pcre2', ', regex_type: osregex')), 'a[0-9]+');
  });

  it('refuses malformed SCA policies with file, line, column and what to do', () => {
    assert.equal(refusal('policy: [a\n', 'cis.yml'), 'cis.yml:2:1: invalid YAML: Flow sequence in block collection must be sufficiently indented and end with a ] (fix the YAML syntax)');
    assert.equal(refusal(`${SCA_HEAD}  - id: 35501\n    title: t\n    condition: all\n    rules:\n      - 'f:/etc/passwd'\n      - 'x:/etc/shadow'\n`, 'cis.yml'), 'cis.yml:10:9: check 35501: unknown rule type "x:" (rules start with f:, d:, p:, c: or not)');
    assert.equal(refusal(`${SCA_HEAD}  - id: 1\n    condition: all\n    rules: ['f:/a']\n`), 'p.yml:5:5: check 1: missing title (add title:)');
    assert.equal(refusal(`${SCA_HEAD}  - { id: 7, title: a, condition: all, rules: ['f:/a'] }\n  - { id: 7, title: b, condition: all, rules: ['f:/b'] }\n`), 'p.yml:6:11: duplicate check id 7 (first used at line 5) (give each check its own id)');
    assert.equal(refusal(`${SCA_HEAD}  - { id: seven, title: a, condition: all, rules: ['f:/a'] }\n`), 'p.yml:5:11: check id "seven" must be a positive integer (SCA check ids are numbers such as 3000)');
    assert.equal(refusal(`${SCA_HEAD}  - id: 2\n    title: t\n    condition: all\n    rules:\n      - 'f:/etc/login.defs -> r:^PASS_MAX_DAYS\\s+(\\d+'\n`), 'p.yml:9:9: check 2: bad osregex regex "^PASS_MAX_DAYS\\s+(\\d+": a "(" is never closed (see the OS_Regex syntax, or set regex_type: pcre2)');
    assert.equal(refusal(`${SCA_HEAD}  - { id: 3, title: t, rules: ['f:/a'] }\n`), 'p.yml:5:5: check 3: missing condition (add condition: all, any or none)');
    assert.equal(refusal(`${SCA_HEAD}  - { id: 4, title: t, condition: all, rules: [] }\n`), 'p.yml:5:47: check 4: has no rules (add at least one rule)');
    assert.equal(refusal(`${SCA_HEAD}  - { id: 5, title: t, condition: all, rules: [{ file: /etc/passwd }] }\n`), "p.yml:5:48: check 5: a rule must be text (write the rule as a quoted string such as 'f:/etc/passwd')");
    assert.equal(refusal(`policy: { id: p, name: n }\nvariables: { sshd: /x }\nchecks: []\n`), 'p.yml:2:14: variable "sshd" must be named $name (start it with $ followed by letters, digits or _)');
    assert.equal(refusal(`policy: { id: "a/b", name: n }\nchecks: []\n`), 'p.yml:1:15: policy id "a/b" is not a valid id (use letters, digits, ".", "_" and "-" (at most 64))');
    assert.equal(refusal(`checks: []\n`), 'p.yml:1:1: policy file: missing policy (add policy:)');
    assert.equal(refusal(`policy: { id: p, name: n }\nchecks: []\nchecks: []\n`), 'p.yml:3:1: invalid YAML: Map keys must be unique (fix the YAML syntax)');
  });
});

describe('docs/policies.md', () => {
  const blocks = [...readFileSync(new URL('../../../docs/policies.md', import.meta.url), 'utf8').matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] as string);

  it('shows a native policy that parses', () => {
    const policy = parsePolicy(blocks[0] ?? '', 'policies.md');
    assert.deepEqual(
      policy.checks.map((c) => [c.id, c.severity, c.rules.length]),
      [['ssh-root-login', 'high', 1]],
    );
  });

  it('shows rule examples that parse', () => {
    const examples = blocks.slice(1);
    assert.equal(examples.length, 5);
    for (const rules of examples) {
      const text = `policy: { id: docs, name: docs, format: bulwark/v1 }\nchecks:\n  - id: example\n    title: t\n    severity: low\n    rationale: r\n    remediation: m\n    condition: all\n    rules:\n${rules.replace(/^/gm, '      ')}`;
      assert.ok(parsePolicy(text, 'policies.md').checks[0]?.rules.every((r) => r.kind === 'typed'));
    }
  });
});
