import assert from 'node:assert/strict';
import { chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeFixtureTree, removeFixtureTree } from '../../host/fixture-tree.js';
import type { AuditHost } from '../host.js';
import type { Finding } from '../model.js';
import { evaluatePolicy } from './evaluate.js';
import { parsePolicy } from './parse.js';
import { createRootedHost } from './rooted-host.js';

const POLICY = `policy:
  id: linux-baseline
  name: Linux baseline
  format: bulwark/v1
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
    remediation: Set PermitRootLogin no.
    references: [https://man.openbsd.org/sshd_config]
    compliance: { cis: ['5.1.20'] }
    applies_when: { condition: all, rules: [{ package: openssh-server, installed: true }] }
    condition: all
    rules:
      - { config: $sshd, key: PermitRootLogin, in: ['no'], default: prohibit-password, include: true }
  - id: ssh-empty-passwords
    title: SSH refuses empty passwords
    severity: critical
    rationale: r
    remediation: m
    applies_when: { condition: all, rules: [{ package: openssh-server, installed: true }] }
    condition: all
    rules:
      - { config: $sshd, key: PermitEmptyPasswords, equals: 'no', default: 'no' }
      - 'not f:$sshd -> r:^\\s*PermitEmptyPasswords\\s+yes'
  - id: telnet-client
    title: No telnet server
    severity: medium
    rationale: r
    remediation: m
    applies_when: { condition: any, rules: [{ package: telnetd, installed: true }] }
    condition: all
    rules:
      - { file: /etc/inetd.conf, exists: false }
  - id: shadow-mode
    title: /etc/shadow is private
    severity: medium
    rationale: r
    remediation: m
    condition: all
    rules:
      - { file: /etc/shadow, mode_max: '0640' }
  - id: ip-forward
    title: No routing
    severity: low
    rationale: r
    remediation: m
    condition: any
    rules:
      - { sysctl: net.ipv4.ip_forward, equals: 0, persisted: true }
      - { file: /etc/bulwark-router, not: true }
  - id: sudo-logs
    title: sudo runs commands through a pty
    severity: info
    rationale: r
    remediation: m
    condition: any
    rules:
      - { command: 'sudo -V', stdout_matches: 'use_pty' }
      - 'f:/etc/sudoers -> r:^Defaults\\s+use_pty'
`;

let root = '';

function statuses(findings: Finding[]): Record<string, string> {
  return Object.fromEntries(findings.map((f) => [f.ruleId, `${f.status}: ${f.evidence}`]));
}

describe('evaluatePolicy', () => {
  before(async () => {
    root = await makeFixtureTree({
      '/etc/debian_version': '12.7\n',
      '/etc/ssh/sshd_config': 'Include /etc/ssh/sshd_config.d/*.conf\nPermitRootLogin yes\n',
      '/etc/ssh/sshd_config.d/50-cloud.conf': 'PasswordAuthentication no\n',
      '/etc/shadow': 'root:*:1::::::\n',
      '/etc/sudoers': 'Defaults\tuse_pty\n',
      '/etc/bulwark-router': 'yes\n',
      '/proc/sys/net/ipv4/ip_forward': '1\n',
      '/var/lib/dpkg/status': 'Package: openssh-server\nStatus: install ok installed\nVersion: 1:9.2p1-2+deb12u3\n',
    });
    await chmod(join(root, 'etc/shadow'), 0o640);
  });
  after(() => removeFixtureTree(root));

  it('gives one finding per check with its status, evidence and the check’s metadata', async () => {
    const result = await evaluatePolicy(parsePolicy(POLICY, 'baseline.yml'), createRootedHost(root), { now: Date.UTC(2025, 0, 1) });
    assert.equal(result.policyId, 'linux-baseline');
    assert.equal(result.requirementsMet, true);
    assert.deepEqual(result.errors, []);
    assert.deepEqual(statuses(result.findings), {
      'ssh-root-login': 'fail: /etc/ssh/sshd_config:2: PermitRootLogin yes',
      'ssh-empty-passwords': 'pass: PermitEmptyPasswords not set; default no; no line of /etc/ssh/sshd_config matches r:^\\s*PermitEmptyPasswords\\s+yes',
      'telnet-client': 'not_applicable: does not apply: telnetd is not installed',
      // The tree has no passwd or group: ids show as numbers.
      'shadow-mode': `pass: /etc/shadow mode 0640, owner ${process.getuid?.()}, group ${process.getgid?.()}`,
      'ip-forward': 'fail: net.ipv4.ip_forward = 1 (running); /etc/bulwark-router exists',
      'sudo-logs': 'pass: /etc/sudoers:1: Defaults\tuse_pty',
    });
    assert.deepEqual(result.findings[0], {
      kind: 'check',
      key: 'check:linux-baseline/ssh-root-login',
      ruleId: 'ssh-root-login',
      source: 'linux-baseline',
      title: 'SSH refuses root logins',
      severity: 'high',
      status: 'fail',
      evidence: '/etc/ssh/sshd_config:2: PermitRootLogin yes',
      rationale: 'Root is the account every attacker tries.',
      remediation: 'Set PermitRootLogin no.',
      references: ['https://man.openbsd.org/sshd_config'],
      compliance: { cis: ['5.1.20'] },
    });
  });

  it('makes every check not applicable when the requirements are not met', async () => {
    const other = await makeFixtureTree({ '/etc/redhat-release': 'Rocky Linux 9\n' });
    try {
      const result = await evaluatePolicy(parsePolicy(POLICY, 'baseline.yml'), createRootedHost(other), { now: 0 });
      assert.equal(result.requirementsMet, false);
      assert.deepEqual(
        result.findings.map((f) => [f.ruleId, f.status, f.evidence]),
        ['ssh-root-login', 'ssh-empty-passwords', 'telnet-client', 'shadow-mode', 'ip-forward', 'sudo-logs'].map((id) => [id, 'not_applicable', 'requirements not met: A Debian system']),
      );
    } finally {
      await removeFixtureTree(other);
    }
  });

  it('turns a check that throws into not applicable and an error, and goes on', async () => {
    const host: AuditHost = {
      ...createRootedHost(root),
      runCommand: async () => {
        throw new Error('agent shutting down');
      },
    };
    const result = await evaluatePolicy(parsePolicy(POLICY, 'baseline.yml'), host, { now: 0 });
    assert.deepEqual(result.errors, [{ source: 'linux-baseline', message: 'check sudo-logs: agent shutting down' }]);
    assert.deepEqual(statuses(result.findings)['sudo-logs'], 'not_applicable: could not evaluate: agent shutting down');
    assert.equal(result.findings.length, 6);
  });

  it('stops when its signal is aborted', async () => {
    const controller = new AbortController();
    controller.abort(new Error('audit cancelled'));
    await assert.rejects(evaluatePolicy(parsePolicy(POLICY, 'baseline.yml'), createRootedHost(root), { signal: controller.signal }), /audit cancelled/);
  });

  it('clamps long evidence', async () => {
    const long = await makeFixtureTree({ '/etc/debian_version': '12\n', '/etc/x': `${'a'.repeat(3000)}\n` });
    try {
      const policy = parsePolicy(`policy: { id: p, name: n }\nchecks:\n  - { id: 1, title: t, condition: all, rules: ['f:/etc/x -> r:^a'] }\n`, 'p.yml');
      const [finding] = (await evaluatePolicy(policy, createRootedHost(long), { now: 0 })).findings;
      assert.equal(finding?.evidence.length, 1024);
      assert.ok(finding?.evidence.startsWith('/etc/x:1: aaa') && finding.evidence.endsWith('…'));
    } finally {
      await removeFixtureTree(long);
    }
  });
});
