import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { makeFixtureTree, removeFixtureTree } from '../../host/fixture-tree.js';
import type { AuditHost, CommandResult } from '../host.js';
import type { Finding } from '../model.js';
import { evaluatePolicy } from './evaluate.js';
import type { Policy } from './model.js';
import { parsePolicy } from './parse.js';
import { createRootedHost } from './rooted-host.js';
import { formatScaRule, parseScaRule } from './sca/parse-rule.js';

/** Wazuh's own policies, read where they are shared, never copied into the repository. */
const DIR = fileURLToPath(new URL('../../../../shared/realworld/wazuh-sca/', import.meta.url));
const CIS = `${DIR}cis_debian12.yml`;
const UNIX = `${DIR}sca_unix_audit.yml`;
const missing = [CIS, UNIX].filter((f) => !existsSync(f));
const skip = missing.length > 0 ? `real-world Wazuh policies not found: ${missing.join(', ')}` : undefined;
if (skip) console.log(`# skipping: ${skip}`);

function load(file: string): { policy: Policy; raw: { checks: { rules: string[] }[]; variables?: Record<string, string> } } {
  const text = readFileSync(file, 'utf8');
  return { policy: parsePolicy(text, file.slice(DIR.length)), raw: parseYaml(text) };
}

function byId(findings: Finding[]): Map<string, Pick<Finding, 'status' | 'evidence'>> {
  return new Map(findings.map((f) => [f.ruleId, { status: f.status, evidence: f.evidence }]));
}

describe('real-world Wazuh SCA policies', { skip }, () => {
  it('parses every check of both policies', () => {
    const cis = load(CIS).policy;
    const unix = load(UNIX).policy;
    assert.equal(cis.checks.length, 207);
    assert.equal(unix.checks.length, 23);
    assert.equal(cis.id, 'cis_debian12');
    assert.equal(unix.id, 'unix_audit');
    assert.equal(new Set(cis.checks.map((c) => c.id)).size, 207);
  });

  it('parses every rule into an AST that writes back to the rule as written and parses to itself again', () => {
    for (const [file, dialect] of [
      [CIS, 'pcre2'],
      [UNIX, 'osregex'],
    ] as const) {
      const { policy, raw } = load(file);
      const variables = new Map(Object.entries(raw.variables ?? {}));
      let rules = 0;
      policy.checks.forEach((check, i) => {
        assert.deepEqual(
          check.rules.map((r) => (r.kind === 'sca' ? r.text : r.type)),
          raw.checks[i]?.rules.map((r) => r.trim()),
        );
        for (const rule of check.rules) {
          assert.ok(rule.kind === 'sca');
          const written = formatScaRule(rule);
          assert.equal(written, rule.text);
          assert.deepEqual(parseScaRule(written, { dialect, variables }), rule);
          rules++;
        }
      });
      assert.equal(rules, file === CIS ? 407 : 24);
    }
  });

  describe('evaluated against a Debian 12 fixture tree', () => {
    let root = '';
    before(async () => {
      root = await makeFixtureTree({
        '/etc/debian_version': '12.7\n',
        '/proc/sys/kernel/ostype': 'Linux\n',
        '/etc/os-release': 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nVERSION="12 (bookworm)"\nID=debian\n',
        '/etc/login.defs': '# /etc/login.defs\nPASS_MAX_DAYS\t99999\nPASS_MIN_DAYS\t1\nPASS_WARN_AGE\t7\nENCRYPT_METHOD YESCRYPT\n',
        '/etc/shadow': 'root:$y$j9T$salt$hash:19800:1:365:7:::\ndaemon:*:19800:0:99999:7:::\n',
        '/etc/passwd': 'root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n',
        '/etc/group': 'root:x:0:\n',
        '/etc/shells': '/bin/sh\n/bin/bash\n/usr/sbin/nologin\n',
        '/etc/default/grub': 'GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX="audit=1 audit_backlog_limit=8192"\n',
        '/etc/audit/rules.d/50-identity.rules': '-w /etc/passwd -p wa -k identity\n',
        '/etc/audit/rules.d/99-finalize.rules': '-e 2\n',
        '/etc/security/pwquality.conf': 'dictcheck = 0\n',
        '/etc/security/pwquality.conf.d/50-local.conf': 'dictcheck = 1\n',
        '/etc/sudoers': '# sudoers\nDefaults\tuse_pty\n%sudo\tALL=(ALL:ALL) ALL\n',
        '/etc/sudoers.d/90-cloud': 'admin ALL=(ALL) NOPASSWD:ALL\n',
        '/etc/ssh/sshd_config': 'Include /etc/ssh/sshd_config.d/*.conf\nPort 2200\npermitrootlogin No\nMaxAuthTries 6\n',
      });
    });
    after(() => removeFixtureTree(root));

    it('gives the CIS checks their exact statuses and evidence', async () => {
      const { policy } = load(CIS);
      const result = await evaluatePolicy(policy, createRootedHost(root), { now: 0 });
      assert.equal(result.requirementsMet, true);
      assert.deepEqual(result.errors, []);
      const found = byId(result.findings);
      const expected: Record<string, Pick<Finding, 'status' | 'evidence'>> = {
        // 5.4.1.1 PASS_MAX_DAYS: the value that decided is shown.
        '33208': { status: 'fail', evidence: 'no line of /etc/login.defs matches n:^\\s*\\t*PASS_MAX_DAYS\\s*\\t*(\\d+) compare <= 365 (line 2: PASS_MAX_DAYS\t99999)' },
        '33209': { status: 'pass', evidence: '/etc/login.defs:3: PASS_MIN_DAYS\t1; no line of /etc/shadow matches n:^[\\w@-]+:\\$.*:\\d+:(\\d+): compare == 0 (line 1: (content withheld: secret file))' },
        // The policy's regex is "ENCRYPT_METHOD\s*\t*SHA512 " or " r:ENCRYPT_METHOD…": as in Wazuh, YESCRYPT does not match it.
        '33211': { status: 'fail', evidence: 'no line of /etc/login.defs matches r:ENCRYPT_METHOD\\s*\\t*SHA512 | r:ENCRYPT_METHOD\\s*\\t*YESCRYPT' },
        '33214': { status: 'pass', evidence: '/etc/passwd:1: root:x:0:0:root:/root:/bin/bash' },
        '33222': { status: 'fail', evidence: '/etc/shells:3: /usr/sbin/nologin' },
        // A lone "!r:" means no line matches; `not` turns it into "a line sets audit_backlog_limit".
        '33248': { status: 'pass', evidence: '/etc/default/grub:2: GRUB_CMDLINE_LINUX="audit=1 audit_backlog_limit=8192"' },
        '33272': {
          status: 'pass',
          evidence: '/etc/audit/rules.d is a directory; /etc/audit/rules.d/50-identity.rules exists; /etc/audit/rules.d/99-finalize.rules:1: -e 2',
        },
        // d: over a glob: the files of pwquality.conf.d are the candidates.
        '33198': { status: 'pass', evidence: 'no line of /etc/security/pwquality.conf.d/50-local.conf matches n:dictcheck\\s*\\t*=\\s*\\t*(\\d+) compare == 0 (line 1: dictcheck = 1)' },
        '33177': { status: 'pass', evidence: '/etc/sudoers:2: Defaults\tuse_pty' },
        '33179': { status: 'fail', evidence: '/etc/sudoers.d/90-cloud:1: admin ALL=(ALL) NOPASSWD:ALL' },
        '33182': { status: 'not_applicable', evidence: '/etc/pam.d/su does not exist' },
        '33173': { status: 'not_applicable', evidence: 'command checks are disabled in the agent configuration' },
      };
      for (const [id, want] of Object.entries(expected)) assert.deepEqual(found.get(id), want, `check ${id}`);
    });

    it('runs CIS command checks through the host, case-sensitive as PCRE2 is', async () => {
      const { policy } = load(CIS);
      const outputs: Record<string, string> = { 'sshd -T': 'port 2222\npermitrootlogin no\nmaxsessions 10\n' };
      const ran: string[] = [];
      const host: AuditHost = {
        ...createRootedHost(root),
        runCommand: async (command): Promise<CommandResult> => {
          ran.push(command);
          return { exitCode: 0, stdout: outputs[command] ?? '', stderr: '', timedOut: false, truncated: false };
        },
      };
      const found = byId((await evaluatePolicy({ ...policy, checks: policy.checks.filter((c) => ['33173', '33170'].includes(c.id)) }, host, { now: 0 })).findings);
      assert.deepEqual(found.get('33173'), { status: 'fail', evidence: 'no line of `sshd -T` matches r:^PermitRootLogin\\s+no' });
      assert.deepEqual(found.get('33170'), { status: 'pass', evidence: '`sshd -T`: maxsessions 10' });
      assert.deepEqual(ran, ['sshd -T'], 'one run per evaluation, however many checks ask');
    });

    it('gives the Unix audit checks their statuses, with variables and case-blind OS_Regex', async () => {
      const { policy } = load(UNIX);
      const result = await evaluatePolicy(policy, createRootedHost(root), { now: 0 });
      assert.equal(result.requirementsMet, true);
      const found = byId(result.findings);
      assert.deepEqual(found.get('3000'), { status: 'pass', evidence: '/etc/ssh/sshd_config:2: Port 2200' });
      assert.deepEqual(found.get('3002'), { status: 'pass', evidence: '/etc/ssh/sshd_config:3: permitrootlogin No' });
      assert.deepEqual(found.get('3008'), { status: 'fail', evidence: 'no line of /etc/ssh/sshd_config matches n:^\\s*MaxAuthTries\\s*\\t*(\\d+) compare <= 4 (line 4: MaxAuthTries 6)' });
      assert.deepEqual(found.get('3018'), { status: 'pass', evidence: 'no line of /etc/shadow matches r:^\\w+:\\$1\\$|^\\w+:\\$2\\$|^\\w+:\\$md5\\$|^\\w+:\\$md5\\$|^\\w+:\\$__unix__\\$' });
      assert.deepEqual(found.get('3019'), { status: 'fail', evidence: 'no line of /etc/login.defs matches n:^PASS_MAX_DAYS\\s*\\t*(\\d+)$ compare <= 365 (line 2: PASS_MAX_DAYS\t99999)' });
      assert.deepEqual(found.get('3010'), { status: 'not_applicable', evidence: '/etc/pam.d/common-password does not exist' });
    });

    it('makes every check not applicable when the requirements are not met', async () => {
      const { policy } = load(CIS);
      const other = await makeFixtureTree({ '/etc/debian_version': '11.9\n', '/proc/sys/kernel/ostype': 'Linux\n' });
      try {
        const result = await evaluatePolicy(policy, createRootedHost(other), { now: 0 });
        assert.equal(result.requirementsMet, false);
        assert.equal(result.findings.length, 207);
        assert.deepEqual(new Set(result.findings.map((f) => `${f.status}: ${f.evidence}`)), new Set(['not_applicable: requirements not met: Check Debian version.']));
      } finally {
        await removeFixtureTree(other);
      }
    });
  });
});
