import { randomUUID } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import { BulwarkError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { EXEC_LIMITS } from '../protocol/agent.js';
import { execSucceeded, type ExecEvent } from '../protocol/exec.js';
import type { AccessService, Principal } from './access-service.js';
import type { AgentSession } from './agent-session.js';
import type { Auditor } from './api/guard.js';
import type { NodeService } from './node-service.js';

/** Output relayed per node unless configured otherwise: 1 MiB. */
export const DEFAULT_EXEC_MAX_OUTPUT_BYTES = 1024 * 1024;
/**
 * How long past its timeout the server waits for a node's `exec_exit`: the
 * agent's SIGTERM-to-SIGKILL grace (2 s) plus room for the round trip.
 */
export const EXEC_ANSWER_GRACE_MS = 10_000;

export interface ExecServiceDeps {
  nodes: NodeService;
  access: AccessService;
  audit: Auditor;
  clock: Clock;
  log: Logger;
  /** The node's live channel on this replica, if any. */
  session: (nodeId: string) => AgentSession | undefined;
  maxOutputBytes?: number;
  answerGraceMs?: number;
}

export interface ExecRunInput {
  principal: Principal;
  selector: string;
  argv: string[];
  timeoutMs: number;
  /** Where the request came from, for the audit log. */
  source?: string;
  requestId?: string;
}

export type ExecExitEvent = Extract<ExecEvent, { type: 'exit' }>;

/** A started run: the nodes it targets, and its events (start, output and exit per node, done) as they happen. */
export interface ExecRun extends AsyncIterable<ExecEvent> {
  nodes: { id: string; name: string }[];
}

/**
 * Runs a command on the nodes a selector matches, through their agents. Only
 * nodes the caller may `exec` on are targets; the others are neither run nor
 * named. Every node's run is audited (`nodes.exec`, never its output), and runs
 * to its end even if whoever reads the events goes away.
 */
export class ExecService {
  constructor(private readonly deps: ExecServiceDeps) {}

  /**
   * Resolves the targets (throws NODE_NOT_FOUND when none), sends the command
   * to each at once, and returns the stream of events.
   */
  async start(input: ExecRunInput): Promise<ExecRun> {
    if (input.timeoutMs <= 0 || input.timeoutMs > EXEC_LIMITS.maxTimeoutMs) {
      throw new BulwarkError('BAD_REQUEST', `the timeout must be between 1 ms and ${EXEC_LIMITS.maxTimeoutMs / 1000} s`);
    }
    const mayExec = await this.deps.access.nodeFilter(input.principal, 'nodes', 'exec');
    const matching = await this.deps.nodes.list({ selector: input.selector });
    const targets = matching.filter((n) => n.state !== 'removed' && mayExec(n.labels)).sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
    if (targets.length === 0) {
      throw new BulwarkError('NODE_NOT_FOUND', `no node you may exec on matches "${input.selector}"; list nodes with \`bulwark nodes ls --selector '${input.selector}'\``);
    }
    const nodes = targets.map((n) => ({ id: n.id, name: n.name }));
    const requestId = input.requestId ?? randomUUID();
    // What is about to run, where, for whom, is on record before any agent hears
    // of it: if the log cannot take it, nothing runs (fail closed).
    for (const node of nodes) {
      await this.deps.audit.append({
        actor: input.principal.actor,
        action: 'nodes.exec',
        resource: `/v1/nodes/${node.id}`,
        decision: 'allow',
        source: input.source ?? 'server',
        requestId,
        outcome: 'success',
        details: { phase: 'started', node: node.name, argv: input.argv, timeoutMs: input.timeoutMs },
      });
    }
    const queue = new EventQueue<ExecEvent>();
    queue.push({ type: 'start', nodes });
    let failed = 0;
    const runs = nodes.map(async (node) => {
      const exit = await this.#runOne(node, input, requestId, (event) => queue.push(event));
      if (!execSucceeded(exit)) failed += 1;
      queue.push(exit);
    });
    void Promise.all(runs).then(() => {
      queue.push({ type: 'done', total: nodes.length, failed });
      queue.end();
    });
    return { nodes, [Symbol.asyncIterator]: () => queue[Symbol.asyncIterator]() };
  }

  /** One node: send, relay, wait for the end (or the deadline, or the channel's loss), audit. Never throws. */
  async #runOne(node: { id: string; name: string }, input: ExecRunInput, requestId: string, emit: (event: ExecEvent) => void): Promise<ExecExitEvent> {
    const started = this.deps.clock.now();
    const maxOutputBytes = this.deps.maxOutputBytes ?? DEFAULT_EXEC_MAX_OUTPUT_BYTES;
    const outcome = await new Promise<Omit<ExecExitEvent, 'durationMs'>>((resolve) => {
      const fail = (code: string, message: string): void => resolve({ type: 'exit', node: node.id, exitCode: null, signal: null, error: { code, message }, truncated });
      let truncated = false;
      let relayed = 0;
      const session = this.deps.session(node.id);
      if (!session) {
        fail('NOT_CONNECTED', `the agent of ${node.name} is not connected to this server`);
        return;
      }
      let settled = false;
      let stop: () => void = () => undefined;
      const finish = (result: Omit<ExecExitEvent, 'durationMs'>): void => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        stop();
        resolve(result);
      };
      const deadline = setTimeout(() => {
        finish({ type: 'exit', node: node.id, exitCode: null, signal: null, error: { code: 'TIMEOUT', message: `the agent of ${node.name} did not report an end within ${Math.round((input.timeoutMs + (this.deps.answerGraceMs ?? EXEC_ANSWER_GRACE_MS)) / 1000)} s` }, truncated });
      }, input.timeoutMs + (this.deps.answerGraceMs ?? EXEC_ANSWER_GRACE_MS));
      stop = session.startExec({ requestId: randomUUID(), argv: input.argv, timeoutMs: input.timeoutMs, maxOutputBytes }, (event) => {
        if (settled) return;
        if (event.type === 'closed') {
          finish({ type: 'exit', node: node.id, exitCode: null, signal: null, error: { code: 'DISCONNECTED', message: `the agent of ${node.name} disconnected before the command ended; its outcome is unknown` }, truncated });
        } else if (event.type === 'exec_output') {
          // The agent enforces the cap; the server holds it too, not trusting the node to.
          if (relayed >= maxOutputBytes) {
            truncated = true;
            return;
          }
          const bytes = Buffer.byteLength(event.data);
          relayed += bytes;
          emit({ type: 'output', node: node.id, stream: event.stream, data: event.data });
        } else {
          finish({
            type: 'exit',
            node: node.id,
            exitCode: event.exitCode,
            signal: event.signal,
            ...(event.error ? { error: event.error } : {}),
            truncated: truncated || event.truncated,
          });
        }
      });
    });
    const exit: ExecExitEvent = { ...outcome, durationMs: Math.max(0, this.deps.clock.now() - started) };
    await this.#audit(node, input, requestId, exit);
    return exit;
  }

  async #audit(node: { id: string; name: string }, input: ExecRunInput, requestId: string, exit: ExecExitEvent): Promise<void> {
    try {
      await this.deps.audit.append({
        actor: input.principal.actor,
        action: 'nodes.exec',
        resource: `/v1/nodes/${node.id}`,
        decision: 'allow',
        source: input.source ?? 'server',
        requestId,
        outcome: execSucceeded(exit) ? 'success' : 'failure',
        details: {
          phase: 'finished',
          node: node.name,
          argv: input.argv,
          exitCode: exit.exitCode,
          signal: exit.signal,
          errorCode: exit.error?.code ?? null,
          truncated: exit.truncated,
          durationMs: exit.durationMs,
          timeoutMs: input.timeoutMs,
        },
      });
    } catch (err) {
      // The command has run; its record is what failed. Loud, but the caller still learns the result.
      this.deps.log.error({ err, nodeId: node.id, requestId }, 'writing the audit entry of a remote command failed');
    }
  }
}

/** An unbounded single-consumer queue as an async iterable; `end()` finishes it once drained. */
class EventQueue<T> implements AsyncIterable<T> {
  readonly #items: T[] = [];
  #ended = false;
  #wake: (() => void) | undefined;

  push(item: T): void {
    if (this.#ended) return;
    this.#items.push(item);
    this.#wake?.();
  }

  end(): void {
    this.#ended = true;
    this.#wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    for (;;) {
      const item = this.#items.shift();
      if (item !== undefined) {
        yield item;
        continue;
      }
      if (this.#ended) return;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
      this.#wake = undefined;
    }
  }
}
