import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import type { AuditHost } from '../checks/host.js';
import { createRootedHost, type RootedHostOptions } from '../checks/policy/index.js';
import { runAudit, type AuditOutput, type AuditPlan } from '../checks/run.js';
import type { AuditPolicy } from './audit-runner.js';

/**
 * One audit, run in a worker thread by `AuditRunner` so that a policy's
 * catastrophic regex or a read that never returns cannot stall the agent's
 * event loop: the runner terminates the worker at the request's timeout.
 *
 * Everything crossing the thread boundary is plain data (structured clone).
 */
export interface AuditWorkerInput {
  /** Marks `workerData` as an audit job, so that this module does nothing when loaded elsewhere. */
  kind: 'bulwark-audit';
  root: string;
  policy: Pick<AuditPolicy, 'commands' | 'commandTimeoutMs' | 'maxCommandOutputBytes'>;
  /** Paths no rule may read: the agent's data directory and `audit.deny_paths`. */
  deniedPaths: string[];
  plan: AuditPlan;
  /** The runner's clock minus `Date.now()`, so that timestamps follow the runner's clock. */
  clockOffsetMs: number;
  /** Extra roots a scanned TLS certificate may chain to (the cluster CA), besides the system's. */
  tlsExtraCa?: string[];
}

export type AuditWorkerReply = { ok: true; output: AuditOutput } | { ok: false; message: string };

/** The audit host of a job, built as the agent always has: rooted, commands only when the node allows them. */
export function auditWorkerHost(input: Pick<AuditWorkerInput, 'root' | 'policy' | 'deniedPaths'>): AuditHost {
  const { root, policy, deniedPaths } = input;
  const options: RootedHostOptions = {
    deniedPaths: [...deniedPaths],
    ...(policy.commands ? { commands: { timeoutMs: policy.commandTimeoutMs, maxOutputBytes: policy.maxCommandOutputBytes } } : {}),
  };
  return createRootedHost(root, options);
}

/** Runs one job; never throws. */
export async function runAuditJob(input: AuditWorkerInput): Promise<AuditWorkerReply> {
  try {
    const now = (): number => Date.now() + input.clockOffsetMs;
    return { ok: true, output: await runAudit(auditWorkerHost(input), input.plan, { now, ...(input.tlsExtraCa ? { tlsExtraCa: input.tlsExtraCa } : {}) }) };
  } catch (err) {
    return { ok: false, message: err instanceof Error ? err.message : String(err) };
  }
}

function isJob(data: unknown): data is AuditWorkerInput {
  return typeof data === 'object' && data !== null && (data as { kind?: unknown }).kind === 'bulwark-audit';
}

const port = parentPort;
if (!isMainThread && port && isJob(workerData)) {
  void runAuditJob(workerData).then((reply) => {
    try {
      port.postMessage(reply);
    } catch (err) {
      // Not plain data after all (DataCloneError): say so rather than leave the runner waiting for its timeout.
      port.postMessage({ ok: false, message: `the audit result could not be sent: ${err instanceof Error ? err.message : String(err)}` } satisfies AuditWorkerReply);
    }
  });
}
