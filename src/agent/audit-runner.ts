import { isAbsolute, posix, relative, resolve } from 'node:path';
import type { Worker } from 'node:worker_threads';
import type { Clock } from '../core/clock.js';
import { findWorkerEntry, startWorker, workerCandidates } from '../core/worker-entry.js';
import type { Logger } from '../core/logger.js';
import type { AuditOutput } from '../checks/run.js';
import { AUDIT_LIMITS, type AuditRequest, type AuditResultMessage } from '../protocol/checks.js';
import type { AuditWorkerInput, AuditWorkerReply } from './audit-worker.js';

/** What the node's own configuration allows an audit to do; a policy never decides this. */
export interface AuditPolicy {
  /** Run `c:` / `command` checks. Off by default: a policy from the server must not become remote code execution. */
  commands: boolean;
  commandTimeoutMs: number;
  maxCommandOutputBytes: number;
  /** Absolute paths no rule may read (`audit.deny_paths`); the agent's data directory is always added. */
  deniedPaths: string[];
}

export const DEFAULT_AUDIT_POLICY: AuditPolicy = { commands: false, commandTimeoutMs: 30_000, maxCommandOutputBytes: 64 * 1024, deniedPaths: [] };

export interface AuditRunnerDeps {
  policy: AuditPolicy;
  /** Root of the host audited; a fixture tree in tests. */
  root: string;
  /** The agent's data directory (key, certificate, configuration): never readable by a policy. */
  dataDir: string;
  /**
   * The cluster CA: Bulwark's own listeners on the node (and other services with
   * cluster-issued certificates) are trusted in TLS scans, not flagged untrusted.
   */
  clusterCaPem?: string;
  clock: Clock;
  log: Logger;
}

/** The audit worker's possible places (see workerCandidates). */
export function auditWorkerCandidates(base: string | URL = import.meta.url): URL[] {
  return workerCandidates('audit-worker', base);
}

export function findAuditWorkerEntry(base: string | URL = import.meta.url, exists?: (path: string) => boolean): URL {
  return findWorkerEntry('audit-worker', base, exists);
}

let workerEntry: URL | undefined;

function startAuditWorker(input: AuditWorkerInput): Worker {
  workerEntry ??= findAuditWorkerEntry();
  // A policy that makes evaluation balloon (a huge file, a pathological pattern) fails the audit, not the agent.
  return startWorker(workerEntry, { workerData: input, resourceLimits: { maxOldGenerationSizeMb: 512 } });
}

type Outcome = { ok: true; output: AuditOutput } | { ok: false; code: 'TIMEOUT' | 'INTERNAL'; message: string };

function isReply(value: unknown): value is AuditWorkerReply {
  if (typeof value !== 'object' || value === null) return false;
  const reply = value as { ok?: unknown; output?: { findings?: unknown; errors?: unknown }; message?: unknown };
  if (reply.ok === false) return typeof reply.message === 'string';
  return reply.ok === true && Array.isArray(reply.output?.findings) && Array.isArray(reply.output.errors);
}

const short = (message: string): string => message.slice(0, 512);

/**
 * Runs the server's audit requests one at a time, each in its own worker
 * thread, and answers each with exactly one `audit_result`. At the request's
 * timeout (or `stop()`) the worker is terminated and TIMEOUT answered at once:
 * a policy that never finishes (a catastrophic regex, a read that never
 * returns) neither stalls the agent's event loop nor blocks later audits.
 */
export class AuditRunner {
  #running: { requestId: string; cancel: (message: string) => void } | undefined;

  constructor(private readonly deps: AuditRunnerDeps) {}

  /**
   * What rules may not read, as host-absolute paths: the data directory always,
   * then the configured paths. The data directory is a path of this machine;
   * under a root other than `/` (tests) it is named as seen from that root.
   */
  deniedPaths(): string[] {
    const root = resolve(this.deps.root);
    const dataDir = resolve(this.deps.dataDir);
    const inRoot = relative(root, dataDir);
    const hostDataDir = inRoot === '' ? '/' : inRoot.startsWith('..') || isAbsolute(inRoot) ? dataDir : `/${inRoot}`;
    return [...new Set([hostDataDir, ...this.deps.policy.deniedPaths.map((path) => posix.resolve('/', path))])];
  }

  async run(request: AuditRequest, send: (message: AuditResultMessage) => void): Promise<void> {
    const now = (): number => this.deps.clock.now();
    const refuse = (code: string, message: string): void =>
      send({ type: 'audit_result', requestId: request.requestId, startedAt: now(), finishedAt: now(), findings: [], errors: [], failure: { code, message } });
    // The server offers a request again after a reconnect; the run in progress answers it.
    if (this.#running?.requestId === request.requestId) return;
    if (this.#running) {
      refuse('CONFLICT', 'an audit is already running on this node');
      return;
    }
    const job = this.#start(request);
    const running = { requestId: request.requestId, cancel: job.cancel };
    this.#running = running;
    try {
      const outcome = await job.done;
      if (!outcome.ok) {
        refuse(outcome.code, outcome.message);
        return;
      }
      const { output } = outcome;
      send({
        type: 'audit_result',
        requestId: request.requestId,
        startedAt: output.startedAt,
        finishedAt: output.finishedAt,
        findings: output.findings.slice(0, AUDIT_LIMITS.findings),
        errors: output.errors.slice(0, AUDIT_LIMITS.errors),
        ...(output.inventory ? { inventory: { ...output.inventory, packages: output.inventory.packages.slice(0, AUDIT_LIMITS.packages) } } : {}),
      });
    } finally {
      if (this.#running === running) this.#running = undefined;
    }
  }

  /** Ends the audit in progress, if any: its worker is terminated and it answers TIMEOUT. */
  stop(): void {
    this.#running?.cancel('the agent stopped before the audit finished');
  }

  /** Starts one audit's worker; `done` settles exactly once, `cancel` settles it with TIMEOUT and terminates the worker. */
  #start(request: AuditRequest): { done: Promise<Outcome>; cancel: (message: string) => void } {
    let resolveDone!: (outcome: Outcome) => void;
    const done = new Promise<Outcome>((r) => (resolveDone = r));
    let worker: Worker | undefined;
    let settled = false;
    const settle = (outcome: Outcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      // A worker stuck in a regex or a read is interrupted; a finished one just goes away.
      worker?.terminate().catch(() => undefined);
      resolveDone(outcome);
    };
    const fail = (err: unknown, what: string): void => {
      // Terminating a worker after its answer or its timeout ends it with a non-zero code: not a failure.
      if (settled) return;
      this.deps.log.error({ err, requestId: request.requestId }, what);
      settle({ ok: false, code: 'INTERNAL', message: short(`the audit failed on the node: ${err instanceof Error ? err.message : String(err)}`) });
    };
    const cancel = (message: string): void => settle({ ok: false, code: 'TIMEOUT', message });
    const timer = setTimeout(() => cancel(`the audit did not finish within ${Math.round(request.timeoutMs / 100) / 10} s`), request.timeoutMs);

    const input: AuditWorkerInput = {
      kind: 'bulwark-audit',
      root: this.deps.root,
      policy: { commands: this.deps.policy.commands, commandTimeoutMs: this.deps.policy.commandTimeoutMs, maxCommandOutputBytes: this.deps.policy.maxCommandOutputBytes },
      deniedPaths: this.deniedPaths(),
      plan: { policies: request.scope.policies, inventory: request.scope.inventory, tlsListeners: request.scope.tlsListeners, tlsTargets: request.scope.tlsTargets },
      clockOffsetMs: this.deps.clock.now() - Date.now(),
      ...(this.deps.clusterCaPem ? { tlsExtraCa: [this.deps.clusterCaPem] } : {}),
    };
    try {
      worker = startAuditWorker(input);
    } catch (err) {
      fail(err, 'the audit worker could not start');
      return { done, cancel };
    }
    worker.on('message', (reply: unknown) => {
      if (!isReply(reply)) fail(new Error('the audit worker sent an unexpected message'), 'audit failed');
      else if (reply.ok) settle({ ok: true, output: reply.output });
      else fail(new Error(reply.message), 'audit failed');
    });
    worker.on('messageerror', (err) => fail(err, 'the audit result could not be read'));
    worker.on('error', (err) => fail(err, 'the audit worker failed'));
    worker.on('exit', (code) => fail(new Error(code === 0 ? 'the audit worker ended without a result' : `the audit worker exited with code ${code}`), 'the audit worker ended'));
    return { done, cancel };
  }
}
