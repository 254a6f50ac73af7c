import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../core/logger.js';
import { EXEC_LIMITS } from '../protocol/agent.js';
import { EXEC_PATH, ExecRunner, checkExecPolicy, matchesAllowPattern, resolveCommand, type ExecPolicy, type ExecReply } from './exec-runner.js';

describe('matchesAllowPattern', () => {
  it('matches a pattern without * only exactly', () => {
    assert.equal(matchesAllowPattern('uptime', ['uptime']), true);
    assert.equal(matchesAllowPattern('uptime', ['uptime', '-p']), false);
    assert.equal(matchesAllowPattern('uptime', ['/usr/bin/uptime']), false);
    assert.equal(matchesAllowPattern('uptime -p', ['uptime', '-p']), true);
  });

  it('* matches within one argument only; a final ** allows any further arguments', () => {
    assert.equal(matchesAllowPattern('systemctl status *', ['systemctl', 'status', 'nginx']), true);
    assert.equal(matchesAllowPattern('systemctl status *', ['systemctl', 'status', '']), true);
    assert.equal(matchesAllowPattern('systemctl status *', ['systemctl', 'status', 'nginx', 'sshd']), false, 'one pattern word, one argument');
    assert.equal(matchesAllowPattern('systemctl status *', ['systemctl', 'status', 'x', '--root=/']), false, 'no extra options smuggled in');
    assert.equal(matchesAllowPattern('systemctl status *', ['systemctl', 'status']), false);
    assert.equal(matchesAllowPattern('systemctl status *', ['systemctl', 'restart', 'nginx']), false);
    assert.equal(matchesAllowPattern('systemctl status **', ['systemctl', 'status', 'nginx', 'sshd']), true);
    assert.equal(matchesAllowPattern('systemctl status **', ['systemctl', 'status']), true);
    assert.equal(matchesAllowPattern('*', ['anything']), true);
    assert.equal(matchesAllowPattern('*', ['anything', 'at', 'all']), false);
    assert.equal(matchesAllowPattern('cat /var/log/*', ['cat', '/var/log/x', '/etc/shadow']), false, 'a second file is a second argument');
    assert.equal(matchesAllowPattern('cat /var/log/*.log', ['cat', '/var/log/syslog.log']), true);
    assert.equal(matchesAllowPattern('cat /var/log/*.log', ['cat', '/var/log/syslog']), false);
    assert.equal(matchesAllowPattern('a*b*c', ['abc']), true);
    assert.equal(matchesAllowPattern('a*b*c', ['a', 'x', 'b', 'y', 'c']), false);
    assert.equal(matchesAllowPattern('a*b*c', ['acb']), false);
    assert.equal(matchesAllowPattern('ab*ba', ['aba']), false, 'the fixed ends must not overlap');
    assert.equal(matchesAllowPattern('**', ['x', 'y']), true);
    assert.equal(matchesAllowPattern('uptime', ['./uptime']), false);
    assert.equal(matchesAllowPattern('uptime', ['/tmp/uptime']), false);
  });

  it('treats every other character literally (no regular expressions, no ?)', () => {
    assert.equal(matchesAllowPattern('ls .', ['ls', 'x']), false);
    assert.equal(matchesAllowPattern('ls ?', ['ls', 'x']), false);
    assert.equal(matchesAllowPattern('ls [ab]', ['ls', 'a']), false);
    assert.equal(matchesAllowPattern('ls [ab]', ['ls', '[ab]']), true);
  });
});

describe('checkExecPolicy', () => {
  it('refuses everything when exec is disabled, allow-list or not', () => {
    assert.equal(checkExecPolicy({ enabled: false, allow: [] }, ['uptime'])?.code, 'EXEC_DISABLED');
    assert.equal(checkExecPolicy({ enabled: false, allow: ['uptime'] }, ['uptime'])?.code, 'EXEC_DISABLED');
  });

  it('with an allow-list, refuses what no pattern matches', () => {
    const policy: ExecPolicy = { enabled: true, allow: ['uptime', 'systemctl status *'] };
    assert.equal(checkExecPolicy(policy, ['uptime']), undefined);
    assert.equal(checkExecPolicy(policy, ['systemctl', 'status', 'cron']), undefined);
    const refused = checkExecPolicy(policy, ['rm', '-rf', '/']);
    assert.equal(refused?.code, 'EXEC_NOT_ALLOWED');
    assert.match(refused?.message ?? '', /rm -rf \//);
  });

  it('without an allow-list, an enabled agent runs any command', () => {
    assert.equal(checkExecPolicy({ enabled: true, allow: [] }, ['id']), undefined);
  });
});

describe('resolveCommand', () => {
  it('looks a bare name up on PATH and takes a path as it is', async () => {
    assert.match((await resolveCommand('sh')) ?? '', /^\/.*\/sh$/);
    assert.equal(await resolveCommand('/bin/sh'), '/bin/sh');
    assert.equal(await resolveCommand('no-such-command-bulwark'), undefined);
    const dir = await mkdtemp(join(tmpdir(), 'bulwark-exec-'));
    try {
      await writeFile(join(dir, 'plain'), 'x', { mode: 0o644 });
      assert.equal(await resolveCommand(join(dir, 'plain')), undefined, 'not executable');
      assert.equal(await resolveCommand('plain', dir), undefined, 'not executable on PATH either');
      await writeFile(join(dir, 'tool'), '#!/bin/sh\n', { mode: 0o755 });
      assert.equal(await resolveCommand('tool', `relative:${dir}`), join(dir, 'tool'), 'relative PATH entries are skipped');
      assert.equal(await resolveCommand(dir), undefined, 'a directory');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

interface Collected {
  stdout: string;
  stderr: string;
  replies: ExecReply[];
  exit: Extract<ExecReply, { type: 'exec_exit' }>;
}

async function run(runner: ExecRunner, argv: string[], opts: { timeoutMs?: number; maxOutputBytes?: number; requestId?: string } = {}): Promise<Collected> {
  const replies: ExecReply[] = [];
  await runner.run({ requestId: opts.requestId ?? 'r1', argv, timeoutMs: opts.timeoutMs ?? 10_000, maxOutputBytes: opts.maxOutputBytes ?? 1024 * 1024 }, (r) => replies.push(r));
  const exits = replies.filter((r) => r.type === 'exec_exit');
  assert.equal(exits.length, 1, 'exactly one exec_exit');
  assert.equal(replies.at(-1)?.type, 'exec_exit', 'exec_exit comes last');
  const text = (stream: string): string =>
    replies
      .filter((r) => r.type === 'exec_output' && r.stream === stream)
      .map((r) => (r.type === 'exec_output' ? r.data : ''))
      .join('');
  return { stdout: text('stdout'), stderr: text('stderr'), replies, exit: exits[0] as Collected['exit'] };
}

const enabled = (allow: string[] = [], extra: Partial<ConstructorParameters<typeof ExecRunner>[0]> = {}): ExecRunner =>
  new ExecRunner({ policy: { enabled: true, allow }, log: silentLogger, ...extra });

describe('ExecRunner', () => {
  it('runs argv without a shell and reports stdout, stderr and the exit code', async () => {
    const r = await run(enabled(), ['echo', 'hello', '$HOME', ';', 'id']);
    assert.equal(r.stdout, 'hello $HOME ; id\n', 'no shell expanded or split anything');
    assert.deepEqual({ ...r.exit }, { type: 'exec_exit', requestId: 'r1', exitCode: 0, signal: null, truncated: false });
    const failing = await run(enabled(), ['sh', '-c', 'echo out; echo err >&2; exit 3']);
    assert.equal(failing.stdout, 'out\n');
    assert.equal(failing.stderr, 'err\n');
    assert.equal(failing.exit.exitCode, 3);
    assert.equal(failing.exit.error, undefined);
  });

  it('refuses when disabled and when not on the allow-list, without running anything', async () => {
    const disabled = await run(new ExecRunner({ policy: { enabled: false, allow: [] }, log: silentLogger }), ['touch', '/tmp/bulwark-should-not-exist']);
    assert.equal(disabled.exit.error?.code, 'EXEC_DISABLED');
    assert.equal(disabled.exit.exitCode, null);
    assert.equal(disabled.replies.length, 1);
    const listed = enabled(['uptime', 'echo *']);
    assert.equal((await run(listed, ['echo', 'hi'])).exit.exitCode, 0);
    const refused = await run(listed, ['id']);
    assert.equal(refused.exit.error?.code, 'EXEC_NOT_ALLOWED');
    assert.equal(refused.replies.length, 1);
  });

  it('gives the command a clean environment: PATH, LANG and HOME only', async () => {
    const r = await run(enabled(), ['env']);
    const vars = new Map(r.stdout.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const));
    assert.deepEqual([...vars.keys()].filter((k) => k !== 'PWD').sort(), ['HOME', 'LANG', 'PATH']);
    assert.equal(vars.get('PATH'), EXEC_PATH);
    assert.equal(vars.get('LANG'), 'C.UTF-8');
  });

  it('reports a command that cannot be found as EXEC_START_FAILED', async () => {
    const r = await run(enabled(), ['no-such-command-bulwark', 'x']);
    assert.equal(r.exit.error?.code, 'EXEC_START_FAILED');
    assert.match(r.exit.error?.message ?? '', /not found/);
  });

  it('stops a command at its timeout with SIGTERM (error TIMEOUT)', async () => {
    const started = Date.now();
    const r = await run(enabled(), ['sleep', '30'], { timeoutMs: 300 });
    assert.ok(Date.now() - started < 5_000, 'did not wait for sleep 30');
    assert.equal(r.exit.signal, 'SIGTERM');
    assert.equal(r.exit.exitCode, null);
    assert.equal(r.exit.error?.code, 'TIMEOUT');
  });

  it('follows with SIGKILL when SIGTERM is ignored, and reaches the whole process group', async () => {
    const started = Date.now();
    const r = await run(enabled([], { killGraceMs: 300 }), ['sh', '-c', 'trap "" TERM; sleep 30 & wait; sleep 30'], { timeoutMs: 300 });
    assert.ok(Date.now() - started < 5_000, `took ${Date.now() - started} ms`);
    assert.equal(r.exit.signal, 'SIGKILL');
    assert.equal(r.exit.error?.code, 'TIMEOUT');
  });

  it('caps the output: stops forwarding at maxOutputBytes and marks it truncated', async () => {
    const r = await run(enabled(), ['seq', '1', '200000'], { maxOutputBytes: 1000 });
    assert.equal(Buffer.byteLength(r.stdout), 1000);
    assert.ok('1\n2\n3\n'.startsWith(r.stdout.slice(0, 6)));
    assert.equal(r.exit.truncated, true);
    assert.equal(r.exit.exitCode, 0, 'the command itself ran to its end');
    const whole = await run(enabled(), ['seq', '1', '10']);
    assert.equal(whole.exit.truncated, false);
  });

  it('sends output in chunks of at most 16 KiB, never splitting a UTF-8 character', async () => {
    const r = await run(enabled(), ['sh', '-c', 'printf x; i=0; while [ $i -lt 20000 ]; do printf "\\303\\251"; i=$((i+1)); done']);
    assert.equal(r.stdout, `x${'é'.repeat(20000)}`);
    const chunks = r.replies.filter((m) => m.type === 'exec_output');
    assert.ok(chunks.length >= 3, `${chunks.length} chunks`);
    for (const c of chunks) assert.ok(Buffer.byteLength(c.type === 'exec_output' ? c.data : '') <= EXEC_LIMITS.maxChunkBytes);
  });

  it('refuses more than maxConcurrent commands at once (EXEC_BUSY)', async () => {
    const runner = enabled([], { maxConcurrent: 1 });
    const first = run(runner, ['sleep', '0.5'], { requestId: 'a' });
    assert.equal(runner.running, 1);
    const second = await run(runner, ['true'], { requestId: 'b' });
    assert.equal(second.exit.error?.code, 'EXEC_BUSY');
    assert.equal((await first).exit.exitCode, 0);
    assert.equal(runner.running, 0);
    assert.equal((await run(runner, ['true'], { requestId: 'c' })).exit.exitCode, 0, 'a slot is free again');
  });

  it('stopAll ends running commands', async () => {
    const runner = enabled();
    const pending = run(runner, ['sleep', '30']);
    await new Promise((r) => setTimeout(r, 200));
    runner.stopAll();
    const r = await pending;
    assert.equal(r.exit.signal, 'SIGTERM');
  });
});
