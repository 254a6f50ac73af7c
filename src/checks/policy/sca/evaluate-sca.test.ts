import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { makeFixtureTree, removeFixtureTree } from '../../../host/fixture-tree.js';
import type { AuditHost, CommandResult } from '../../host.js';
import type { Finding } from '../../model.js';
import { evaluatePolicy } from '../evaluate.js';
import { parsePolicy } from '../parse.js';
import { createRootedHost } from '../rooted-host.js';

let root = '';

/** One SCA check over the fixture tree: its status and evidence. */
async function check(rules: string[], options: { condition?: string; regexType?: string; host?: AuditHost; variables?: string } = {}): Promise<Pick<Finding, 'status' | 'evidence'>> {
  const text = `policy: { id: t, name: t${options.regexType ? `, regex_type: ${options.regexType}` : ''} }
${options.variables ? `variables: ${options.variables}\n` : ''}checks:
  - id: 1
    title: t
    condition: ${options.condition ?? 'all'}
    rules:
${rules.map((r) => `      - '${r.replace(/'/g, "''")}'`).join('\n')}
`;
  const result = await evaluatePolicy(parsePolicy(text, 't.yml'), options.host ?? createRootedHost(root), { now: 0 });
  assert.deepEqual(result.errors, []);
  const [finding] = result.findings;
  assert.ok(finding);
  return { status: finding.status, evidence: finding.evidence };
}

function fakeCommands(outputs: Record<string, Partial<CommandResult>>): AuditHost {
  return {
    ...createRootedHost(root),
    runCommand: async (command) => ({ exitCode: 0, stdout: '', stderr: '', timedOut: false, truncated: false, ...(outputs[command] ?? { exitCode: null, stderr: 'not found' }) }),
  };
}

describe('SCA rule language on a fixture tree', () => {
  before(async () => {
    root = await makeFixtureTree({
      '/etc/ssh/sshd_config': '# Authentication:\n#PermitRootLogin prohibit-password\nPermitRootLogin yes\nMaxAuthTries 6\nLoginGraceTime 30s\n',
      '/etc/login.defs': 'PASS_MAX_DAYS   90\nPASS_MIN_DAYS 0\n',
      '/etc/pam.d/common-password': 'password [success=1 default=ignore] pam_unix.so obscure yescrypt\n',
      '/etc/audit/rules.d/10-base.rules': '-D\n-b 8192\n',
      '/etc/audit/rules.d/sub/20-time.rules': '-a always,exit -F arch=b64 -S adjtimex -k time-change\n',
      '/etc/audit/rules.d/notes.txt': '-e 2\n',
      '/etc/cron.d/.placeholder': '',
      '/etc/empty.d': { dir: true },
      '/etc/link-to-sshd': { link: '/etc/ssh/sshd_config' },
      '/etc/escape': { link: '../../../../../../etc/hostname' },
      '/etc/hostname': 'fixture-host\n',
      '/proc/812/comm': 'sshd\n',
      '/proc/812/cmdline': 'sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups\0',
      '/proc/1/comm': 'systemd\n',
      '/proc/1/cmdline': '/sbin/init\0splash\0',
    });
  });
  after(() => removeFixtureTree(root));

  it('f: tells a regular file from a missing one and from a directory', async () => {
    assert.deepEqual(await check(['f:/etc/login.defs']), { status: 'pass', evidence: '/etc/login.defs exists' });
    assert.deepEqual(await check(['f:/etc/nope']), { status: 'fail', evidence: '/etc/nope does not exist' });
    assert.deepEqual(await check(['f:/etc/nope,/etc/none']), { status: 'fail', evidence: '/etc/nope, /etc/none do not exist' });
    assert.deepEqual(await check(['f:/etc/nope,/etc/login.defs']), { status: 'pass', evidence: '/etc/login.defs exists' });
    assert.deepEqual(await check(['f:/etc/ssh']), { status: 'not_applicable', evidence: '/etc/ssh is not a regular file' });
    assert.deepEqual(await check(['not f:/etc/nope']), { status: 'pass', evidence: '/etc/nope does not exist' });
  });

  it('f: -> matches lines, with && on the same line and ! negating one minterm', async () => {
    assert.deepEqual(await check(['f:/etc/ssh/sshd_config -> !r:^# && r:PermitRootLogin']), { status: 'pass', evidence: '/etc/ssh/sshd_config:3: PermitRootLogin yes' });
    assert.deepEqual(await check(['f:/etc/ssh/sshd_config -> r:^\\s*PermitRootLogin\\s+no'], { regexType: 'pcre2' }), {
      status: 'fail',
      evidence: 'no line of /etc/ssh/sshd_config matches r:^\\s*PermitRootLogin\\s+no',
    });
    assert.deepEqual(await check(['f:/etc/ssh/sshd_config -> r:^PermitRootLogin && !r:yes']), {
      status: 'fail',
      evidence: 'no line of /etc/ssh/sshd_config matches r:^PermitRootLogin && !r:yes (line 3: PermitRootLogin yes)',
    });
    assert.deepEqual(await check(['not f:/etc/ssh/sshd_config -> !r:^# && r:PermitRootLogin && r:yes']), { status: 'fail', evidence: '/etc/ssh/sshd_config:3: PermitRootLogin yes' });
    // A lone negated minterm: no line may match.
    assert.deepEqual(await check(['f:/etc/ssh/sshd_config -> !r:PermitEmptyPasswords']), { status: 'pass', evidence: 'no line of /etc/ssh/sshd_config matches r:PermitEmptyPasswords' });
    assert.deepEqual(await check(['f:/etc/ssh/sshd_config -> !r:MaxAuthTries']), { status: 'fail', evidence: '/etc/ssh/sshd_config:4: MaxAuthTries 6' });
    // Without a prefix, the whole line must equal the text.
    assert.deepEqual(await check(['f:/etc/ssh/sshd_config -> maxauthtries 6']), { status: 'pass', evidence: '/etc/ssh/sshd_config:4: MaxAuthTries 6' });
    assert.deepEqual(await check(['f:/etc/ssh/sshd_config -> maxauthtries 6'], { regexType: 'pcre2' }), { status: 'fail', evidence: 'no line of /etc/ssh/sshd_config matches maxauthtries 6' });
  });

  it('f: -> on a missing file is not applicable, as in Wazuh, unless another file of the list matches', async () => {
    assert.deepEqual(await check(['f:/etc/sudoers -> r:NOPASSWD']), { status: 'not_applicable', evidence: '/etc/sudoers does not exist' });
    assert.deepEqual(await check(['not f:/etc/sudoers -> r:NOPASSWD']), { status: 'not_applicable', evidence: '/etc/sudoers does not exist' });
    assert.deepEqual(await check(['f:/etc/sudoers,/etc/login.defs -> r:PASS_MAX']), { status: 'pass', evidence: '/etc/login.defs:1: PASS_MAX_DAYS   90' });
  });

  it('n: compares the captured number with every operator', async () => {
    const days = (op: string, value: number): Promise<Pick<Finding, 'status' | 'evidence'>> => check([`f:/etc/login.defs -> n:^PASS_MAX_DAYS\\s*(\\d+) compare ${op} ${value}`]);
    assert.equal((await days('<=', 90)).status, 'pass');
    assert.equal((await days('<', 90)).status, 'fail');
    assert.equal((await days('==', 90)).status, 'pass');
    assert.equal((await days('!=', 90)).status, 'fail');
    assert.equal((await days('>=', 91)).status, 'fail');
    assert.equal((await days('>', 89)).status, 'pass');
    assert.deepEqual(await days('<=', 60), { status: 'fail', evidence: 'no line of /etc/login.defs matches n:^PASS_MAX_DAYS\\s*(\\d+) compare <= 60 (line 1: PASS_MAX_DAYS   90)' });
    assert.deepEqual(await check(['f:/etc/ssh/sshd_config -> n:^LoginGraceTime\\s*(\\d+)s compare <= 60']), { status: 'pass', evidence: '/etc/ssh/sshd_config:5: LoginGraceTime 30s' });
  });

  it('substitutes variables in paths', async () => {
    assert.deepEqual(await check(['f:$sshd -> r:^MaxAuthTries'], { variables: '{ $sshd: /etc/ssh/sshd_config, $pam: "/etc/pam.d/x,/etc/pam.d/common-password" }' }), {
      status: 'pass',
      evidence: '/etc/ssh/sshd_config:4: MaxAuthTries 6',
    });
    assert.deepEqual(await check(['f:$pam -> r:pam_unix.so && r:yescrypt'], { variables: '{ $pam: "/etc/pam.d/x,/etc/pam.d/common-password" }' }), {
      status: 'pass',
      evidence: '/etc/pam.d/common-password:1: password [success=1 default=ignore] pam_unix.so obscure yescrypt',
    });
  });

  it('reads OS_Regex as OS_Regex: \\. is any character, . a dot, case ignored', async () => {
    assert.deepEqual(await check(['f:/etc/pam.d/common-password -> r:^password\\.+pam_unix.so\\.+YESCRYPT']), {
      status: 'pass',
      evidence: '/etc/pam.d/common-password:1: password [success=1 default=ignore] pam_unix.so obscure yescrypt',
    });
    assert.equal((await check(['f:/etc/pam.d/common-password -> r:pam_unix.so.+yescrypt'])).status, 'fail', 'in OS_Regex ".+" is a dot and a plus');
  });

  it('d: finds directories, files by name (recursively) and content in them', async () => {
    assert.deepEqual(await check(['d:/etc/audit/rules.d']), { status: 'pass', evidence: '/etc/audit/rules.d is a directory' });
    assert.deepEqual(await check(['d:/etc/login.defs']), { status: 'fail', evidence: '/etc/login.defs is not a directory' });
    assert.deepEqual(await check(['d:/etc/audit/rules.d -> 20-time.rules'], { regexType: 'pcre2' }), { status: 'pass', evidence: '/etc/audit/rules.d/sub/20-time.rules exists' });
    assert.deepEqual(await check(['d:/etc/audit/rules.d -> r:\\.rules$ -> r:-S adjtimex'], { regexType: 'pcre2' }), {
      status: 'pass',
      evidence: '/etc/audit/rules.d/sub/20-time.rules:1: -a always,exit -F arch=b64 -S adjtimex -k time-change',
    });
    // notes.txt says "-e 2" but is not a .rules file.
    assert.deepEqual(await check(['d:/etc/audit/rules.d -> r:\\.rules$ -> r:^-e 2'], { regexType: 'pcre2' }), {
      status: 'fail',
      evidence: 'no line of /etc/audit/rules.d/10-base.rules matches r:^-e 2; no line of /etc/audit/rules.d/sub/20-time.rules matches r:^-e 2',
    });
    assert.deepEqual(await check(['d:/etc/empty.d -> r:\\.conf$'], { regexType: 'pcre2' }), { status: 'fail', evidence: 'no file under /etc/empty.d matches r:\\.conf$' });
    assert.deepEqual(await check(['d:/etc/nope.d -> r:\\.conf$ -> r:x'], { regexType: 'pcre2' }), { status: 'not_applicable', evidence: '/etc/nope.d does not exist' });
    assert.deepEqual(await check(['d:/etc/audit/rules.d/* -> r:\\.rules$ -> r:^-b'], { regexType: 'pcre2' }), { status: 'pass', evidence: '/etc/audit/rules.d/10-base.rules:2: -b 8192' });
    assert.deepEqual(await check(['d:/etc/empty.d/* -> r:\\.conf$ -> r:x'], { regexType: 'pcre2' }), { status: 'fail', evidence: 'no file under /etc/empty.d/* matches r:\\.conf$' });
  });

  it('p: matches running processes by name, command line or program', async () => {
    assert.deepEqual(await check(['p:sshd']), { status: 'pass', evidence: 'process 812 sshd is running: sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups' });
    assert.deepEqual(await check(['p:init']), { status: 'pass', evidence: 'process 1 systemd is running: /sbin/init splash' });
    assert.deepEqual(await check(['not p:r:^telnetd']), { status: 'pass', evidence: 'no running process matches r:^telnetd' });
  });

  it('c: runs through the host only, matching stdout then stderr, whatever the exit status', async () => {
    assert.deepEqual(await check(['c:sshd -T -> r:^permitrootlogin\\s+no']), { status: 'not_applicable', evidence: 'command checks are disabled in the agent configuration' });
    const host = fakeCommands({
      'sshd -T': { stdout: 'port 22\npermitrootlogin yes\n' },
      'dpkg-query -s telnet': { exitCode: 1, stderr: "dpkg-query: package 'telnet' is not installed\n" },
      'sleep 99': { exitCode: null, timedOut: true },
    });
    assert.deepEqual(await check(['c:sshd -T -> r:^permitrootlogin\\s+no'], { host, regexType: 'pcre2' }), { status: 'fail', evidence: 'no line of `sshd -T` matches r:^permitrootlogin\\s+no' });
    assert.deepEqual(await check(['not c:dpkg-query -s telnet -> r:install ok installed'], { host }), { status: 'pass', evidence: 'no line of `dpkg-query -s telnet` matches r:install ok installed' });
    assert.deepEqual(await check(['c:dpkg-query -s telnet -> r:is not installed'], { host }), { status: 'pass', evidence: "`dpkg-query -s telnet`: dpkg-query: package 'telnet' is not installed" });
    assert.deepEqual(await check(['c:sleep 99 -> r:x'], { host }), { status: 'not_applicable', evidence: '`sleep 99` timed out' });
    assert.deepEqual(await check(['c:nope -> r:x'], { host }), { status: 'not_applicable', evidence: '`nope` could not run: not found' });
    assert.deepEqual(await check(['c:sshd -T'], { host }), { status: 'pass', evidence: '`sshd -T` exited with 0' });
    // The real thing: argv split as Wazuh does, no shell unless the rule asks for one.
    const live = createRootedHost('/', { commands: { timeoutMs: 5_000, maxOutputBytes: 4096 } });
    assert.deepEqual(await check([`c:sh -c "echo 'Status: install ok installed' | tr a-z A-Z" -> r:^STATUS: INSTALL OK`], { host: live, regexType: 'pcre2' }), {
      status: 'pass',
      evidence: '`sh -c "echo \'Status: install ok installed\' | tr a-z A-Z"`: STATUS: INSTALL OK INSTALLED',
    });
  });

  it('follows symlinks inside the root, never out of it', async () => {
    assert.deepEqual(await check(['f:/etc/link-to-sshd -> r:^MaxAuthTries']), { status: 'pass', evidence: '/etc/link-to-sshd:4: MaxAuthTries 6' });
    // "../../.." from /etc/escape climbs to the root and no further: it names the fixture's /etc/hostname.
    assert.deepEqual(await check(['f:/etc/escape -> r:^fixture-host$']), { status: 'pass', evidence: '/etc/escape:1: fixture-host' });
  });

  it('applies the conditions: all, any, none, with not applicable only when undecided', async () => {
    const t = 'f:/etc/login.defs';
    const f = 'f:/etc/nope';
    const na = 'f:/etc/nope -> r:x';
    assert.deepEqual(await check([t, f, na], { condition: 'all' }), { status: 'fail', evidence: '/etc/nope does not exist' });
    assert.deepEqual(await check([t, na], { condition: 'all' }), { status: 'not_applicable', evidence: '/etc/nope does not exist' });
    assert.deepEqual(await check([na, f, t], { condition: 'any' }), { status: 'pass', evidence: '/etc/login.defs exists' });
    assert.deepEqual(await check([f, na], { condition: 'any' }), { status: 'not_applicable', evidence: '/etc/nope does not exist' });
    assert.deepEqual(await check([f, 'f:/etc/none'], { condition: 'any' }), { status: 'fail', evidence: '/etc/nope does not exist; /etc/none does not exist' });
    assert.deepEqual(await check([na, t], { condition: 'none' }), { status: 'fail', evidence: '/etc/login.defs exists' });
    assert.deepEqual(await check([f, na], { condition: 'none' }), { status: 'not_applicable', evidence: '/etc/nope does not exist' });
    assert.deepEqual(await check([f, 'not f:/etc/login.defs'], { condition: 'none' }), { status: 'pass', evidence: '/etc/nope does not exist; /etc/login.defs exists' });
  });
});
