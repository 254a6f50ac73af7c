import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { NodeState } from '../protocol/api.js';
import type { Store } from '../store/open.js';
import { compareAndSetNodeState, listSilentNodes, touchLastSeen } from '../store/nodes.js';
import type { EventLog } from './event-log.js';

const STATE_CHANNEL = 'bulwark_node_state';

export interface MembershipOptions {
  heartbeatIntervalMs: number;
  suspectAfterMissed: number;
  offlineAfterMissed: number;
}

/** What a node's state should be after `silentMs` without a heartbeat. Pure. */
export function stateForSilence(silentMs: number, opts: MembershipOptions): 'active' | 'suspect' | 'offline' {
  if (silentMs > opts.offlineAfterMissed * opts.heartbeatIntervalMs) return 'offline';
  if (silentMs > opts.suspectAfterMissed * opts.heartbeatIntervalMs) return 'suspect';
  return 'active';
}

/**
 * Tracks who is alive. Heartbeats land in memory and reach the database in one
 * batched write per flush, so 5,000 agents cost one transaction a second, not
 * 500 writes. The sweep that demotes silent nodes runs only where the leader lock
 * is held, so replicas never race to emit the same transition.
 */
export class Membership {
  readonly #seen = new Map<string, number>();
  readonly #unflushed = new Map<string, number>();
  /** Last known state of every node connected here; kept current across replicas by notifications. */
  readonly #states = new Map<string, NodeState>();
  readonly #unsubscribe: () => void;
  #timer: NodeJS.Timeout | undefined;
  #sweeping = false;

  constructor(
    private readonly deps: { store: Store; clock: Clock; log: Logger; events: EventLog; options: MembershipOptions },
  ) {
    this.#unsubscribe = deps.store.notifier.subscribe(STATE_CHANNEL, (payload) => {
      const { nodeId, state } = JSON.parse(payload) as { nodeId: string; state: NodeState };
      if (this.#states.has(nodeId)) this.#states.set(nodeId, state);
    });
  }

  start(): void {
    const every = Math.max(50, Math.min(1000, Math.floor(this.deps.options.heartbeatIntervalMs / 4)));
    const lock = this.deps.store.leaderLock('bulwark_membership');
    this.#timer = setInterval(() => {
      if (this.#sweeping) return;
      this.#sweeping = true;
      void this.#tick(lock)
        .catch((err: unknown) => this.deps.log.error({ err }, 'membership sweep failed'))
        .finally(() => {
          this.#sweeping = false;
        });
    }, every);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#unsubscribe();
    await this.flush();
  }

  /** A node's agent said hello here: from now on its heartbeats are tracked on this replica. */
  async connected(nodeId: string, state: NodeState): Promise<void> {
    this.#states.set(nodeId, state);
    await this.heartbeat(nodeId);
  }

  /** Records a sign of life and brings the node back to active if it was not. */
  async heartbeat(nodeId: string): Promise<void> {
    const now = this.deps.clock.now();
    this.#seen.set(nodeId, now);
    this.#unflushed.set(nodeId, now);
    const state = this.#states.get(nodeId);
    if (state === undefined || state === 'active' || state === 'removed') return;
    // Set first, so heartbeats arriving during the write do not repeat it.
    this.#states.set(nodeId, 'active');
    await this.flush();
    if (await compareAndSetNodeState(this.deps.store.db, nodeId, [state], 'active', now)) {
      await this.#announce(nodeId, 'active');
      await this.deps.events.append(state === 'pending' ? 'node.activated' : 'node.recovered', nodeId, { from: state, to: 'active' });
    }
  }

  disconnected(nodeId: string): void {
    this.#states.delete(nodeId);
  }

  /** A removed node: nothing of it is kept or written any more (its last heartbeats included). */
  forget(nodeId: string): void {
    this.#seen.delete(nodeId);
    this.#unflushed.delete(nodeId);
    this.#states.delete(nodeId);
  }

  /** Nodes whose last heartbeat is kept in memory (tests). */
  get trackedCount(): number {
    return this.#seen.size;
  }

  async #announce(nodeId: string, state: NodeState): Promise<void> {
    await this.deps.store.notifier.publish(STATE_CHANNEL, JSON.stringify({ nodeId, state })).catch((err: unknown) => {
      this.deps.log.warn({ err }, 'node state notification failed');
    });
  }

  async flush(): Promise<void> {
    if (this.#unflushed.size === 0) return;
    const entries = [...this.#unflushed].map(([id, at]) => ({ id, at }));
    this.#unflushed.clear();
    await touchLastSeen(this.deps.store.db, entries);
  }

  async #tick(lock: ReturnType<Store['leaderLock']>): Promise<void> {
    await this.flush();
    if (!(lock.held || (await lock.tryAcquire()))) return;
    await this.sweep();
  }

  /** Demotes nodes that have gone quiet. Exposed for tests that drive the clock by hand. */
  async sweep(): Promise<void> {
    const now = this.deps.clock.now();
    const { heartbeatIntervalMs, suspectAfterMissed, offlineAfterMissed } = this.deps.options;
    // Only nodes quiet for longer than the first threshold can move: reading the
    // whole fleet every tick stalled the event loop for tens of ms at 5,000 nodes.
    const quietSince = now - Math.min(suspectAfterMissed, offlineAfterMissed) * heartbeatIntervalMs;
    const nodes = await listSilentNodes(this.deps.store.db, ['active', 'suspect'], quietSince);
    for (const node of nodes) {
      const last = Math.max(node.lastSeenAt ?? node.stateChangedAt, this.#seen.get(node.id) ?? 0);
      const target = stateForSilence(now - last, this.deps.options);
      if (target === 'active' || target === node.state) continue;
      const from: NodeState[] = target === 'offline' ? ['active', 'suspect'] : ['active'];
      if (await compareAndSetNodeState(this.deps.store.db, node.id, from, target, now)) {
        await this.#announce(node.id, target);
        await this.deps.events.append(`node.${target}`, node.id, { from: node.state, to: target, lastSeenAt: last, silentMs: now - last });
      }
    }
  }
}
