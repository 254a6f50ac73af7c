import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { makeFixtureTree, removeFixtureTree } from '../../../host/fixture-tree.js';
import { createRuleContext } from '../context.js';
import { createRootedHost } from '../rooted-host.js';
import { CONFIG_RULE, ConfigRuleSchema } from './config-rule.js';
import type { RuleOutcome } from './types.js';

let root = '';

function run(rule: unknown): Promise<RuleOutcome> {
  return CONFIG_RULE.evaluate(ConfigRuleSchema.parse(rule), createRuleContext(createRootedHost(root), 0));
}

describe('config rule', () => {
  before(async () => {
    root = await makeFixtureTree({
      '/etc/ssh/sshd_config': [
        '# This is the sshd server system-wide configuration file.',
        'Include /etc/ssh/sshd_config.d/*.conf',
        '',
        '#PermitRootLogin prohibit-password',
        'PermitRootLogin yes',
        'MaxAuthTries=3',
        'Banner "/etc/issue.net"   # shown before login',
        'ClientAliveInterval abc',
        'Match User backup',
        '    PasswordAuthentication yes',
        '',
      ].join('\n'),
      '/etc/ssh/sshd_config.d/10-hardening.conf': 'permitrootlogin no\nInclude extra/*.conf\n',
      '/etc/ssh/sshd_config.d/extra/50-x11.conf': 'X11Forwarding yes\nMatch Address 10.0.0.0/8\n  MaxAuthTries 10\n',
      '/etc/login.defs': 'PASS_MAX_DAYS\t99999\nUMASK 022\nUMASK 077\n',
    });
  });
  after(() => removeFixtureTree(root));

  it('takes the first occurrence by default, as sshd does, with keys in any case', async () => {
    assert.deepEqual(await run({ config: '/etc/ssh/sshd_config', key: 'PermitRootLogin', equals: 'no' }), { result: false, evidence: '/etc/ssh/sshd_config:5: PermitRootLogin yes' });
    assert.deepEqual(await run({ config: '/etc/login.defs', key: 'umask', equals: '022' }), { result: true, evidence: '/etc/login.defs:2: UMASK 022' });
    assert.deepEqual(await run({ config: '/etc/login.defs', key: 'UMASK', equals: '077', match: 'last' }), { result: true, evidence: '/etc/login.defs:3: UMASK 077' });
  });

  it('follows Include where it stands, relative paths from the including file', async () => {
    assert.deepEqual(await run({ config: '/etc/ssh/sshd_config', key: 'PermitRootLogin', in: ['no', 'prohibit-password'], include: true }), {
      result: true,
      evidence: '/etc/ssh/sshd_config.d/10-hardening.conf:1: permitrootlogin no',
    });
    assert.deepEqual(await run({ config: '/etc/ssh/sshd_config', key: 'X11Forwarding', equals: 'no', include: true }), {
      result: false,
      evidence: '/etc/ssh/sshd_config.d/extra/50-x11.conf:1: X11Forwarding yes',
    });
  });

  it('ends the global section at Match, in the main file and in included ones', async () => {
    assert.deepEqual(await run({ config: '/etc/ssh/sshd_config', key: 'PasswordAuthentication', equals: 'no', default: 'yes' }), { result: false, evidence: 'PasswordAuthentication not set; default yes' });
    assert.deepEqual(await run({ config: '/etc/ssh/sshd_config', key: 'MaxAuthTries', max: 4, include: true }), { result: true, evidence: '/etc/ssh/sshd_config:6: MaxAuthTries=3' });
  });

  it('compares with equals, not_equals, in, not_in, matches, min and max', async () => {
    const sshd = { config: '/etc/ssh/sshd_config' };
    assert.equal((await run({ ...sshd, key: 'MaxAuthTries', min: 1, max: 4 })).result, true);
    assert.equal((await run({ ...sshd, key: 'MaxAuthTries', min: 4 })).result, false);
    assert.equal((await run({ ...sshd, key: 'MaxAuthTries', equals: 3 })).result, true);
    assert.equal((await run({ ...sshd, key: 'PermitRootLogin', not_equals: 'YES' })).result, false);
    assert.equal((await run({ ...sshd, key: 'PermitRootLogin', not_in: ['no', 'forced-commands-only'] })).result, true);
    assert.deepEqual(await run({ ...sshd, key: 'Banner', matches: '^/etc/issue(\\.net)?$' }), { result: true, evidence: '/etc/ssh/sshd_config:7: Banner "/etc/issue.net"   # shown before login' });
    assert.deepEqual(await run({ ...sshd, key: 'ClientAliveInterval', min: 1 }), { result: false, evidence: '/etc/ssh/sshd_config:8: ClientAliveInterval abc (not a number)' });
  });

  it('uses the default when the key is absent, and absent to require or forbid the key', async () => {
    const sshd = { config: '/etc/ssh/sshd_config' };
    assert.deepEqual(await run({ ...sshd, key: 'PermitEmptyPasswords', equals: 'no', default: 'no' }), { result: true, evidence: 'PermitEmptyPasswords not set; default no' });
    assert.deepEqual(await run({ ...sshd, key: 'PermitEmptyPasswords', equals: 'no' }), { result: false, evidence: 'PermitEmptyPasswords not set in /etc/ssh/sshd_config' });
    assert.deepEqual(await run({ ...sshd, key: 'PermitEmptyPasswords', absent: true }), { result: true, evidence: 'PermitEmptyPasswords not set in /etc/ssh/sshd_config' });
    assert.deepEqual(await run({ ...sshd, key: 'PermitRootLogin', absent: true }), { result: false, evidence: '/etc/ssh/sshd_config:5: PermitRootLogin yes' });
    assert.deepEqual(await run({ ...sshd, key: 'MaxSessions', absent: false }), { result: false, evidence: 'MaxSessions not set in /etc/ssh/sshd_config' });
  });

  it('is not applicable for a missing file without a default', async () => {
    assert.deepEqual(await run({ config: '/etc/nope.conf', key: 'A', equals: 'b' }), { result: 'not_applicable', evidence: '/etc/nope.conf does not exist' });
    assert.deepEqual(await run({ config: '/etc/nope.conf', key: 'A', equals: 'b', default: 'b' }), { result: true, evidence: 'A not set; default b' });
    assert.deepEqual(await run({ config: '/etc/nope.conf', key: 'A', absent: true }), { result: true, evidence: '/etc/nope.conf does not exist' });
  });

  it('refuses a rule that compares with nothing, or contradicts itself', () => {
    assert.equal(ConfigRuleSchema.safeParse({ config: '/x', key: 'A' }).error?.issues[0]?.message, 'give one of equals, not_equals, in, not_in, matches, min, max or absent');
    assert.equal(ConfigRuleSchema.safeParse({ config: '/x', key: 'A', absent: true, equals: 'b' }).error?.issues[0]?.message, 'absent: true cannot be combined with a comparison');
    assert.equal(ConfigRuleSchema.safeParse({ config: '/x', key: 'A B', equals: 'b' }).error?.issues[0]?.message, 'must be one keyword');
  });
});
