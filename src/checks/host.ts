import type { ListeningPort } from '../protocol/facts.js';

export interface HostProcess {
  pid: number;
  /** The short name (`/proc/<pid>/comm`). */
  name: string;
  /** The command line, arguments joined by single spaces. */
  cmdline: string;
}

export interface CommandResult {
  /** null when the command was killed (timeout) or could not start. */
  exitCode: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  /** true when output passed the cap and was cut. */
  truncated: boolean;
}

/**
 * What the audit engine may learn about a machine. Files are read under `root`
 * (a fixture tree in tests, `/` on a real node); processes and listening sockets
 * come from `root`'s `/proc`. `runCommand` is absent unless the agent's own
 * configuration allows command checks: policies never decide that themselves.
 * `deniedPaths` likewise comes from the agent, never from a policy.
 */
export interface AuditHost {
  root: string;
  /**
   * Host-absolute paths that audits never read, list or stat, nor anything
   * below them, whichever path (a symlink, `..`) leads there: the agent's own
   * keys and state. Policies see them as not readable, never their content.
   */
  deniedPaths?: readonly string[];
  processes(): Promise<HostProcess[]>;
  listening(): Promise<ListeningPort[]>;
  runCommand?: (command: string) => Promise<CommandResult>;
}
