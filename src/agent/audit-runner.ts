import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { AuditHost } from '../checks/host.js';
import { createRootedHost } from '../checks/policy/index.js';
import { runAudit } from '../checks/run.js';
import { AUDIT_LIMITS, type AuditRequest, type AuditResultMessage } from '../protocol/checks.js';

/** What the node's own configuration allows an audit to do; a policy never decides this. */
export interface AuditPolicy {
  /** Run `c:` / `command` checks. Off by default: a policy from the server must not become remote code execution. */
  commands: boolean;
  commandTimeoutMs: number;
  maxCommandOutputBytes: number;
}

export const DEFAULT_AUDIT_POLICY: AuditPolicy = { commands: false, commandTimeoutMs: 30_000, maxCommandOutputBytes: 64 * 1024 };

export interface AuditRunnerDeps {
  policy: AuditPolicy;
  /** Root of the host audited; a fixture tree in tests. */
  root: string;
  clock: Clock;
  log: Logger;
}

/** Runs the server's audit requests one at a time and answers each with exactly one `audit_result`. */
export class AuditRunner {
  #running: { requestId: string; abort: AbortController } | undefined;

  constructor(private readonly deps: AuditRunnerDeps) {}

  host(): AuditHost {
    const { policy, root } = this.deps;
    return createRootedHost(root, policy.commands ? { commands: { timeoutMs: policy.commandTimeoutMs, maxOutputBytes: policy.maxCommandOutputBytes } } : {});
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
    const abort = new AbortController();
    this.#running = { requestId: request.requestId, abort };
    const timer = setTimeout(() => abort.abort(), request.timeoutMs);
    try {
      const output = await runAudit(
        this.host(),
        { policies: request.scope.policies, inventory: request.scope.inventory, tlsListeners: request.scope.tlsListeners, tlsTargets: request.scope.tlsTargets },
        { now, signal: abort.signal },
      );
      if (abort.signal.aborted) {
        refuse('TIMEOUT', `the audit did not finish within ${Math.round(request.timeoutMs / 1000)} s`);
        return;
      }
      send({
        type: 'audit_result',
        requestId: request.requestId,
        startedAt: output.startedAt,
        finishedAt: output.finishedAt,
        findings: output.findings.slice(0, AUDIT_LIMITS.findings),
        errors: output.errors.slice(0, AUDIT_LIMITS.errors),
        ...(output.inventory ? { inventory: { ...output.inventory, packages: output.inventory.packages.slice(0, AUDIT_LIMITS.packages) } } : {}),
      });
    } catch (err) {
      this.deps.log.error({ err }, 'audit failed');
      refuse('INTERNAL', `the audit failed on the node: ${err instanceof Error ? err.message.slice(0, 512) : 'unknown error'}`);
    } finally {
      clearTimeout(timer);
      this.#running = undefined;
    }
  }

  stop(): void {
    this.#running?.abort.abort();
  }
}
