import { spawn } from 'node:child_process';
import type { CommandResult } from '../host.js';

export interface CommandLimits {
  timeoutMs: number;
  /** Per stream: more output is read and dropped, and `truncated` set. */
  maxOutputBytes: number;
}

/** A fixed PATH: audit commands (sshd, sysctl, findmnt) live in sbin, which an agent's own PATH may lack. */
const COMMAND_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * Runs argv without a shell, in its own process group, with the C locale so
 * output reads as policies expect it. On timeout the whole group is killed, so
 * whatever the command started ends with it.
 */
export function spawnCommand(argv: readonly string[], limits: CommandLimits): Promise<CommandResult> {
  const [file, ...args] = argv;
  return new Promise((resolve) => {
    const env: Record<string, string> = { PATH: COMMAND_PATH, LC_ALL: 'C', LANG: 'C' };
    if (process.env.HOME !== undefined) env.HOME = process.env.HOME;
    const child = spawn(file ?? '', args, { shell: false, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env, windowsHide: true });
    let timedOut = false;
    let truncated = false;
    const collect = (stream: NodeJS.ReadableStream): Buffer[] => {
      const chunks: Buffer[] = [];
      let size = 0;
      stream.on('data', (chunk: Buffer) => {
        const room = limits.maxOutputBytes - size;
        if (chunk.length > room) truncated = true;
        if (room <= 0) return;
        const kept = chunk.subarray(0, room);
        chunks.push(kept);
        size += kept.length;
      });
      return chunks;
    };
    const stdout = collect(child.stdout);
    const stderr = collect(child.stderr);
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, limits.timeoutMs);
    let spawnError: Error | undefined;
    child.once('error', (err) => {
      spawnError = err;
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      const errText = Buffer.concat(stderr).toString('utf8');
      resolve({
        exitCode: timedOut || spawnError !== undefined ? null : code,
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: spawnError === undefined ? errText : `${file ?? ''}: ${spawnError.message}`,
        timedOut,
        truncated,
      });
    });
  });
}
