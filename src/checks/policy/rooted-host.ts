import { readdir } from 'node:fs/promises';
import { posix } from 'node:path';
import { isLiveRoot, readHostFile, resolveInRoot } from '../../host/host-file.js';
import { collectListeningPorts } from '../../host/listening-ports.js';
import type { AuditHost, CommandResult, HostProcess } from '../host.js';
import { splitCommandLine } from './command-line.js';
import { type CommandLimits, spawnCommand } from './spawn-command.js';

export interface RootedHostOptions {
  /** Allows command checks (the agent's own configuration decides); without it `runCommand` is absent. */
  commands?: CommandLimits;
  /**
   * Host-absolute paths no rule may read, list or stat, nor anything below them
   * (the agent's data directory and its configured `deny_paths`).
   */
  deniedPaths?: string[];
}

async function readProcess(root: string, pid: number): Promise<HostProcess | undefined> {
  try {
    const [comm, cmdline] = await Promise.all([readHostFile(root, `/proc/${pid}/comm`), readHostFile(root, `/proc/${pid}/cmdline`)]);
    if (comm === undefined) return undefined;
    // Arguments are NUL-terminated; a kernel thread has none.
    return { pid, name: comm.trim(), cmdline: (cmdline ?? '').replace(/\0+$/, '').split('\0').join(' ') };
  } catch {
    // The process ended while it was being read.
    return undefined;
  }
}

async function listProcesses(root: string): Promise<HostProcess[]> {
  const entries = await readdir(await resolveInRoot(root, '/proc'));
  const pids = entries.filter((e) => /^\d+$/.test(e)).map(Number).sort((a, b) => a - b);
  const processes = await Promise.all(pids.map((pid) => readProcess(root, pid)));
  return processes.filter((p): p is HostProcess => p !== undefined);
}

async function runCommand(command: string, limits: CommandLimits): Promise<CommandResult> {
  let argv: string[];
  try {
    argv = splitCommandLine(command);
  } catch (err) {
    return { exitCode: null, stdout: '', stderr: (err as Error).message, timedOut: false, truncated: false };
  }
  return spawnCommand(argv, limits);
}

/**
 * The audit host for a directory tree: `/` on a node, a fixture tree in
 * tests. Processes come from the root's /proc, listening sockets from its
 * /proc/net. Commands run only when the options allow them and the root is
 * `/`: a command reads the machine it runs on, never the tree. Denied paths
 * are host-absolute (`/var/lib/bulwark`), resolved under the root like any
 * other path.
 */
export function createRootedHost(root: string, options: RootedHostOptions = {}): AuditHost {
  const host: AuditHost = { root, processes: () => listProcesses(root), listening: () => collectListeningPorts(root) };
  if (options.deniedPaths !== undefined && options.deniedPaths.length > 0) {
    host.deniedPaths = Object.freeze([...new Set(options.deniedPaths.map((path) => posix.resolve('/', path)))]);
  }
  const limits = options.commands;
  if (limits !== undefined && isLiveRoot(root)) host.runCommand = (command) => runCommand(command, limits);
  return host;
}
