import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AuditHost, CommandResult } from '../../host.js';
import { createRuleContext } from '../context.js';
import { createRootedHost } from '../rooted-host.js';
import { COMMAND_RULE, CommandRuleSchema } from './command-rule.js';
import type { RuleOutcome } from './types.js';

function host(results: Record<string, Partial<CommandResult>>, ran: string[] = []): AuditHost {
  return {
    root: '/nonexistent-root',
    processes: async () => [],
    listening: async () => [],
    runCommand: async (command) => {
      ran.push(command);
      return { exitCode: 0, stdout: '', stderr: '', timedOut: false, truncated: false, ...results[command] };
    },
  };
}

function run(rule: unknown, on: AuditHost): Promise<RuleOutcome> {
  return COMMAND_RULE.evaluate(CommandRuleSchema.parse(rule), createRuleContext(on, 0));
}

describe('command rule', () => {
  it('is not applicable when the agent does not allow commands', async () => {
    assert.deepEqual(await run({ command: 'true' }, createRootedHost('/nonexistent-root', { commands: { timeoutMs: 1000, maxOutputBytes: 1024 } })), {
      result: 'not_applicable',
      evidence: 'command checks are disabled in the agent configuration',
    });
  });

  it('checks the exit status (0 unless the rule says otherwise)', async () => {
    const h = host({ 'systemctl is-active auditd': { exitCode: 3, stdout: 'inactive\n' } });
    assert.deepEqual(await run({ command: 'systemctl is-active auditd' }, h), { result: false, evidence: '`systemctl is-active auditd` exited with 3 (expected 0)' });
    assert.deepEqual(await run({ command: 'systemctl is-active auditd', exit_code: 3 }, h), { result: true, evidence: '`systemctl is-active auditd` exited with 3' });
  });

  it('matches standard output line by line', async () => {
    const ran: string[] = [];
    const h = host({ 'sshd -T': { stdout: 'port 22\npermitrootlogin without-password\nx11forwarding no\n' } }, ran);
    assert.deepEqual(await run({ command: 'sshd -T', stdout_matches: '^x11forwarding\\s+no$' }, h), { result: true, evidence: '`sshd -T`: x11forwarding no' });
    assert.deepEqual(await run({ command: 'sshd -T', stdout_matches: '^permitrootlogin\\s+no$' }, h), { result: false, evidence: '`sshd -T`: no output line matches ^permitrootlogin\\s+no$' });
    assert.deepEqual(await run({ command: 'sshd -T', stdout_not_matches: '^permitrootlogin\\s+(yes|without-password)' }, h), { result: false, evidence: '`sshd -T`: permitrootlogin without-password' });
    assert.deepEqual(await run({ command: 'sshd -T', stdout_matches: '^port 22$', stdout_not_matches: '^x11forwarding yes', exit_code: 0 }, h), {
      result: true,
      evidence: '`sshd -T`: port 22; `sshd -T`: no output line matches ^x11forwarding yes',
    });
  });

  it('is not applicable when the command times out or cannot start', async () => {
    const h = host({ 'sleep 60': { exitCode: null, timedOut: true }, nope: { exitCode: null, stderr: 'nope: spawn nope ENOENT\n' } });
    assert.deepEqual(await run({ command: 'sleep 60' }, h), { result: 'not_applicable', evidence: '`sleep 60` timed out' });
    assert.deepEqual(await run({ command: 'nope' }, h), { result: 'not_applicable', evidence: '`nope` could not run: nope: spawn nope ENOENT' });
  });

  it('runs for real on the live root, within the agent’s limits', async () => {
    const live = createRootedHost('/', { commands: { timeoutMs: 300, maxOutputBytes: 4096 } });
    assert.deepEqual(await run({ command: `sh -c 'printf "port 22\\npermitrootlogin no\\n"'`, stdout_matches: '^permitrootlogin\\s+no$' }, live), {
      result: true,
      evidence: '`sh -c \'printf "port 22\\npermitrootlogin no\\n"\'`: permitrootlogin no',
    });
    assert.deepEqual(await run({ command: 'sleep 5' }, live), { result: 'not_applicable', evidence: '`sleep 5` timed out' });
  });

  it('refuses unterminated quotes and bad regexes', () => {
    assert.equal(CommandRuleSchema.safeParse({ command: 'sh -c "x' }).error?.issues[0]?.message, 'unterminated double quote in command: sh -c "x');
    assert.equal(CommandRuleSchema.safeParse({ command: 'x', stdout_matches: '(' }).error?.issues[0]?.message, 'not a valid regular expression: Unterminated group');
  });
});
