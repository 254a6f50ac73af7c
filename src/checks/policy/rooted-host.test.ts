import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { makeFixtureTree, removeFixtureTree } from '../../host/fixture-tree.js';
import { createRootedHost } from './rooted-host.js';

const LIMITS = { timeoutMs: 5_000, maxOutputBytes: 64 * 1024 };
let root = '';

/** Whether a process still runs: gone, or a zombie waiting for a reaper (a container's init may never reap it). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

describe('createRootedHost', () => {
  before(async () => {
    root = await makeFixtureTree({
      '/proc/1/comm': 'systemd\n',
      '/proc/1/cmdline': '/sbin/init\0splash\0',
      '/proc/2/comm': 'kthreadd\n',
      '/proc/2/cmdline': '',
      '/proc/812/comm': 'sshd\n',
      '/proc/812/cmdline': '/usr/sbin/sshd\0-D\0',
      '/proc/812/fd/3': { link: 'socket:[4242]' },
      '/proc/913/cmdline': 'gone\0',
      '/proc/self': { link: '812' },
      '/proc/net/tcp':
        '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n' +
        '   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0\n',
    });
  });
  after(() => removeFixtureTree(root));

  it('lists the tree’s processes from /proc, arguments joined by spaces', async () => {
    assert.deepEqual(await createRootedHost(root).processes(), [
      { pid: 1, name: 'systemd', cmdline: '/sbin/init splash' },
      { pid: 2, name: 'kthreadd', cmdline: '' },
      { pid: 812, name: 'sshd', cmdline: '/usr/sbin/sshd -D' },
    ]);
  });

  it('lists the tree’s listening sockets with their owners', async () => {
    assert.deepEqual(await createRootedHost(root).listening(), [{ protocol: 'tcp', address: '0.0.0.0', port: 22, process: { pid: 812, name: 'sshd' } }]);
  });

  it('runs no commands for a tree, nor without the agent’s permission', () => {
    assert.equal(createRootedHost(root, { commands: LIMITS }).runCommand, undefined);
    assert.equal(createRootedHost('/').runCommand, undefined);
    assert.equal(typeof createRootedHost('/', { commands: LIMITS }).runCommand, 'function');
  });

  describe('on the live root, with commands allowed', () => {
    const host = createRootedHost('/', { commands: LIMITS });
    const run = (command: string) => (host.runCommand as NonNullable<typeof host.runCommand>)(command);

    it('runs argv without a shell, quotes honoured, in the C locale', async () => {
      assert.deepEqual(await run(`sh -c 'echo "$0|$1|$LC_ALL"; echo oops >&2; exit 3' "one two" 'three'`), {
        exitCode: 3,
        stdout: 'one two|three|C\n',
        stderr: 'oops\n',
        timedOut: false,
        truncated: false,
      });
      assert.deepEqual(await run('echo $HOME | cat'), { exitCode: 0, stdout: '$HOME | cat\n', stderr: '', timedOut: false, truncated: false });
    });

    it('reports a command that cannot start', async () => {
      const result = await run('bulwark-no-such-command --flag');
      assert.equal(result.exitCode, null);
      assert.equal(result.timedOut, false);
      assert.match(result.stderr, /^bulwark-no-such-command: spawn bulwark-no-such-command ENOENT$/);
      assert.deepEqual(await run('echo "unterminated'), { exitCode: null, stdout: '', stderr: 'unterminated double quote in command: echo "unterminated', timedOut: false, truncated: false });
    });

    it('kills the whole process group at the timeout', async () => {
      const quick = createRootedHost('/', { commands: { timeoutMs: 300, maxOutputBytes: 1024 } });
      const started = Date.now();
      const result = await (quick.runCommand as NonNullable<typeof quick.runCommand>)(`sh -c 'sleep 30 & echo $!; wait'`);
      assert.ok(Date.now() - started < 5_000, 'returned at the timeout, not when sleep ended');
      assert.equal(result.timedOut, true);
      assert.equal(result.exitCode, null);
      const child = Number(result.stdout.trim());
      assert.ok(child > 0);
      for (let i = 0; i < 50 && alive(child); i++) await sleep(20);
      assert.equal(alive(child), false, 'the background sleep died with its group');
    });

    it('cuts output at the cap and says so', async () => {
      const small = createRootedHost('/', { commands: { timeoutMs: 5_000, maxOutputBytes: 1000 } });
      const result = await (small.runCommand as NonNullable<typeof small.runCommand>)(`sh -c 'head -c 100000 /dev/zero | tr "\\0" x'`);
      assert.equal(result.exitCode, 0);
      assert.equal(result.truncated, true);
      assert.equal(result.stdout, 'x'.repeat(1000));
    });
  });
});
