import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { delimiter, isAbsolute, join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import type { Logger } from '../core/logger.js';
import { EXEC_LIMITS, type ExecExit, type ExecOutput, type ExecRequest } from '../protocol/agent.js';

/** What an agent allows of remote commands; off unless its own configuration turns it on. */
export interface ExecPolicy {
  enabled: boolean;
  /** Patterns over the space-joined argv (`*` any run of characters); empty: any command. */
  allow: string[];
}

export const EXEC_DISABLED_POLICY: ExecPolicy = { enabled: false, allow: [] };

/** The PATH commands are looked up in and run with; the agent's own environment is not passed on. */
export const EXEC_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** After SIGTERM at the timeout, SIGKILL follows this much later. */
export const EXEC_KILL_GRACE_MS = 2_000;
export const DEFAULT_MAX_CONCURRENT_EXECS = 4;
/** Bytes of output per message: under the 16 KiB limit even with a decoder's carried-over partial character. */
const CHUNK_BYTES = EXEC_LIMITS.maxChunkBytes - 4;
/** After the process exits, how long its pipes may stay open (held by a child it left behind). */
const PIPE_DRAIN_MS = 1_000;

export type ExecReply = ExecOutput | ExecExit;

/**
 * True when `argv`, joined with single spaces, matches `pattern` as a whole:
 * `*` matches any run of characters (spaces included, none included), every
 * other character only itself.
 *
 * @example matchesAllowPattern('systemctl status *', ['systemctl', 'status', 'nginx']) // → true
 */
export function matchesAllowPattern(pattern: string, argv: readonly string[]): boolean {
  // One pattern word per argument: `*` stays inside its argument, so "cat /var/log/*"
  // cannot also read /etc/shadow by an extra argument. A final `**` is the
  // explicit way to allow any further arguments.
  const words = pattern.trim().split(/\s+/).filter((w) => w !== '');
  const open = words[words.length - 1] === '**';
  const fixed = open ? words.slice(0, -1) : words;
  if (argv.length < fixed.length || (!open && argv.length !== fixed.length)) return false;
  return fixed.every((word, i) => matchesWord(word, argv[i] ?? ''));
}

/** A glob of one argument: `*` matches any run of characters within it. */
function matchesWord(word: string, arg: string): boolean {
  const parts = word.split('*');
  if (parts.length === 1) return arg === word;
  const first = parts[0] ?? '';
  const last = parts[parts.length - 1] ?? '';
  if (arg.length < first.length + last.length || !arg.startsWith(first) || !arg.endsWith(last)) return false;
  let at = first.length;
  const end = arg.length - last.length;
  for (const part of parts.slice(1, -1)) {
    if (part === '') continue;
    const found = arg.indexOf(part, at);
    if (found < 0 || found + part.length > end) return false;
    at = found + part.length;
  }
  return true;
}

/** Whether the policy lets `argv` run: the refusal's code and message, or undefined. */
export function checkExecPolicy(policy: ExecPolicy, argv: readonly string[]): { code: 'EXEC_DISABLED' | 'EXEC_NOT_ALLOWED'; message: string } | undefined {
  if (!policy.enabled) {
    return { code: 'EXEC_DISABLED', message: 'remote commands are disabled on this node; enable them in the agent configuration (exec.enabled or --enable-exec)' };
  }
  if (policy.allow.length > 0 && !policy.allow.some((p) => matchesAllowPattern(p, argv))) {
    return { code: 'EXEC_NOT_ALLOWED', message: `"${shorten(argv.join(' '))}" is not on this node's exec allow-list` };
  }
  return undefined;
}

/** The absolute path `command` runs from: itself if it names a path, else the first executable file of that name on `path`. */
export async function resolveCommand(command: string, path: string = EXEC_PATH): Promise<string | undefined> {
  const candidates = command.includes('/') ? [command] : path.split(delimiter).filter((d) => isAbsolute(d)).map((d) => join(d, command));
  for (const candidate of candidates) {
    try {
      if (!(await stat(candidate)).isFile()) continue;
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

export interface ExecRunnerOptions {
  policy: ExecPolicy;
  log: Logger;
  maxConcurrent?: number;
  /** Environment of every command. Default: PATH, LANG=C.UTF-8, HOME (of the agent's user); nothing of the agent's own. */
  env?: Record<string, string>;
  /** Working directory. Default: HOME. */
  cwd?: string;
  killGraceMs?: number;
}

interface Running {
  kill: (signal: NodeJS.Signals) => void;
}

/**
 * Runs the commands a server asks for, within the agent's own policy: refused
 * unless enabled and (with an allow-list) listed; argv spawned directly, never
 * through a shell; a timeout (SIGTERM, then SIGKILL), an output cap, and a cap on
 * commands at once. Replies go through `send`, whatever connection is open then.
 */
export class ExecRunner {
  readonly #running = new Map<string, Running>();
  readonly #maxConcurrent: number;
  readonly #env: Record<string, string>;
  readonly #cwd: string;
  readonly #killGraceMs: number;

  constructor(private readonly options: ExecRunnerOptions) {
    this.#maxConcurrent = options.maxConcurrent ?? DEFAULT_MAX_CONCURRENT_EXECS;
    const home = safeHomedir();
    this.#env = options.env ?? { PATH: EXEC_PATH, LANG: 'C.UTF-8', HOME: home };
    this.#cwd = options.cwd ?? home;
    this.#killGraceMs = options.killGraceMs ?? EXEC_KILL_GRACE_MS;
    if (options.policy.enabled) {
      if (options.policy.allow.length === 0) options.log.warn('remote commands (exec) are enabled for any command: consider an allow-list (--exec-allow)');
      else options.log.info({ allow: options.policy.allow }, 'remote commands (exec) are enabled for the allow-list');
    }
  }

  get running(): number {
    return this.#running.size;
  }

  /** Handles one `exec`; resolves once its `exec_exit` has been sent. Never throws. */
  async run(request: Pick<ExecRequest, 'requestId' | 'argv' | 'timeoutMs' | 'maxOutputBytes'>, send: (reply: ExecReply) => void): Promise<void> {
    const { requestId, argv } = request;
    const exit = (fields: Omit<ExecExit, 'type' | 'requestId'>): void => send({ type: 'exec_exit', requestId, ...fields });
    const refusal = checkExecPolicy(this.options.policy, argv);
    if (refusal) {
      this.options.log.warn({ requestId, code: refusal.code, command: shorten(argv.join(' ')) }, 'remote command refused');
      exit({ exitCode: null, signal: null, error: refusal, truncated: false });
      return;
    }
    if (this.#running.has(requestId)) {
      exit({ exitCode: null, signal: null, error: { code: 'CONFLICT', message: `request ${requestId} is already running` }, truncated: false });
      return;
    }
    if (this.#running.size >= this.#maxConcurrent) {
      exit({ exitCode: null, signal: null, error: { code: 'EXEC_BUSY', message: `this node already runs ${this.#running.size} remote commands (at most ${this.#maxConcurrent}); retry when one has finished` }, truncated: false });
      return;
    }
    // Claimed before the first await, so concurrent requests count against the cap at once.
    const slot: Running = { kill: () => undefined };
    this.#running.set(requestId, slot);
    try {
      await this.#spawn(request, slot, send, exit);
    } finally {
      this.#running.delete(requestId);
    }
  }

  /** Ends every running command (agent stopping): SIGTERM now, SIGKILL after the grace. */
  stopAll(): void {
    for (const running of this.#running.values()) running.kill('SIGTERM');
  }

  async #spawn(
    request: Pick<ExecRequest, 'requestId' | 'argv' | 'timeoutMs' | 'maxOutputBytes'>,
    slot: Running,
    send: (reply: ExecReply) => void,
    exit: (fields: Omit<ExecExit, 'type' | 'requestId'>) => void,
  ): Promise<void> {
    const [command = '', ...args] = request.argv;
    const file = await resolveCommand(command, this.#env.PATH ?? EXEC_PATH);
    if (!file) {
      exit({ exitCode: null, signal: null, error: { code: 'EXEC_START_FAILED', message: `${shorten(command)}: command not found (PATH=${this.#env.PATH ?? EXEC_PATH})` }, truncated: false });
      return;
    }
    const log = this.options.log;
    log.info({ requestId: request.requestId, command: shorten(request.argv.join(' ')) }, 'running a remote command');
    let child: ChildProcess;
    try {
      // Its own process group (detached), so a timeout reaches whatever it started too.
      child = spawn(file, args, { shell: false, env: this.#env, cwd: this.#cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true, windowsHide: true });
    } catch (err) {
      exit({ exitCode: null, signal: null, error: { code: 'EXEC_START_FAILED', message: `${shorten(command)}: ${errorMessage(err)}` }, truncated: false });
      return;
    }
    let killTimer: NodeJS.Timeout | undefined;
    let timedOut = false;
    const signalGroup = (signal: NodeJS.Signals): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, signal);
      } catch {
        child.kill(signal);
      }
    };
    slot.kill = (signal) => {
      signalGroup(signal);
      killTimer ??= setTimeout(() => signalGroup('SIGKILL'), this.#killGraceMs);
    };
    const timeout = setTimeout(() => {
      timedOut = true;
      slot.kill('SIGTERM');
    }, request.timeoutMs);

    let budget = request.maxOutputBytes;
    let truncated = false;
    const forward = (stream: 'stdout' | 'stderr', source: NodeJS.ReadableStream): Promise<void> => {
      const decoder = new StringDecoder('utf8');
      const emit = (text: string): void => {
        if (text !== '') send({ type: 'exec_output', requestId: request.requestId, stream, data: text });
      };
      return new Promise<void>((resolve) => {
        source.on('data', (chunk: Buffer) => {
          if (truncated) return; // keep draining, so the command never blocks on a full pipe
          let data = chunk;
          if (data.length > budget) {
            data = data.subarray(0, budget);
            truncated = true;
          }
          budget -= data.length;
          for (let i = 0; i < data.length; i += CHUNK_BYTES) emit(decoder.write(data.subarray(i, i + CHUNK_BYTES)));
        });
        source.once('end', () => {
          emit(decoder.end());
          resolve();
        });
        source.once('close', () => resolve());
        source.once('error', () => resolve());
      });
    };
    const outputs = Promise.all([forward('stdout', child.stdout as NodeJS.ReadableStream), forward('stderr', child.stderr as NodeJS.ReadableStream)]);

    const result = await new Promise<{ exitCode: number | null; signal: string | null; error?: { code: string; message: string } }>((resolve) => {
      child.once('error', (err) => resolve({ exitCode: null, signal: null, error: { code: 'EXEC_START_FAILED', message: `${shorten(command)}: ${errorMessage(err)}` } }));
      child.once('exit', (code, signal) => resolve({ exitCode: code, signal }));
    });
    clearTimeout(timeout);
    // A process it left behind may hold the pipes open: wait a little, then stop reading.
    const drained = await Promise.race([outputs.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), PIPE_DRAIN_MS).unref())]);
    if (!drained) {
      child.stdout?.destroy();
      child.stderr?.destroy();
    }
    clearTimeout(killTimer);
    if (timedOut && !result.error) {
      result.error = { code: 'TIMEOUT', message: `the command ran longer than ${formatMs(request.timeoutMs)} and was stopped (${result.signal ?? 'exited'})` };
    }
    log.info({ requestId: request.requestId, exitCode: result.exitCode, signal: result.signal, error: result.error?.code, truncated }, 'remote command finished');
    exit({ exitCode: result.exitCode, signal: result.signal, ...(result.error ? { error: result.error } : {}), truncated });
  }
}

function safeHomedir(): string {
  try {
    return homedir() || '/';
  } catch {
    return '/';
  }
}

function shorten(text: string, max = 200): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? ((err as NodeJS.ErrnoException).code ?? err.message) : String(err);
}

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}
