import type { Clock } from '../core/clock.js';
import { BulwarkError } from '../core/errors.js';
import { matchesSelector, parseSelector } from '../core/labels.js';
import type { NodeState, NodeView } from '../protocol/api.js';
import type { Store } from '../store/open.js';
import { findNodes, listNodes, markNodeRemoved, type NodeRecord } from '../store/nodes.js';
import { revokeNodeCertificates } from '../store/certificates.js';
import type { EventLog } from './event-log.js';

export const NODE_REMOVED_CHANNEL = 'bulwark_node_removed';

/** The one not-found answer, also given for nodes outside the caller's scope, so existence does not leak. */
export function nodeNotFound(ref: string): BulwarkError {
  return new BulwarkError('NODE_NOT_FOUND', `node "${ref}" not found; list nodes with \`bulwark nodes ls\``);
}

export interface NodeListFilter {
  selector?: string | undefined;
  state?: NodeState | undefined;
  includeRemoved?: boolean;
}

export class NodeService {
  constructor(
    private readonly deps: { store: Store; clock: Clock; events: EventLog; isConnected: (nodeId: string) => boolean; revocationsChanged: () => void },
  ) {}

  async list(filter: NodeListFilter): Promise<NodeView[]> {
    const selector = parseSelector(filter.selector ?? '');
    const includeRemoved = filter.includeRemoved === true || filter.state === 'removed';
    const nodes = await listNodes(this.deps.store.db, { includeRemoved, ...(filter.state ? { state: filter.state } : {}) });
    return nodes.filter((n) => matchesSelector(selector, n.labels)).map((n) => this.view(n));
  }

  /** Finds one node by id or name among those `visible` lets through; a name shared by several must be given as an id. */
  async resolve(ref: string, visible: (labels: Record<string, string>) => boolean = () => true): Promise<NodeRecord> {
    // Only nodes the caller may see count, for ambiguity too: otherwise the error would name hidden ones.
    const found = (await findNodes(this.deps.store.db, ref)).filter((n) => visible(n.labels));
    const byId = found.find((n) => n.id === ref);
    if (byId) return byId;
    const live = found.filter((n) => n.state !== 'removed');
    const candidates = live.length > 0 ? live : found;
    if (candidates.length === 0) throw nodeNotFound(ref);
    if (candidates.length > 1) {
      throw new BulwarkError('AMBIGUOUS_NAME', `${candidates.length} nodes are named "${ref}"; use one of their ids: ${candidates.map((n) => n.id).join(', ')}`);
    }
    return candidates[0] as NodeRecord;
  }

  async get(ref: string): Promise<NodeView> {
    return this.view(await this.resolve(ref));
  }

  /**
   * Removes a node: it stays listed as removed, every certificate it holds is
   * revoked, and every replica closes its live connection (via the notifier).
   */
  async remove(ref: string, actor: string): Promise<NodeView> {
    const node = await this.resolve(ref);
    if (node.state === 'removed') throw new BulwarkError('CONFLICT', `node ${node.id} was already removed`);
    const now = this.deps.clock.now();
    await markNodeRemoved(this.deps.store.db, node.id, now);
    const serials = await revokeNodeCertificates(this.deps.store.db, node.id, now, 'node removed');
    this.deps.revocationsChanged();
    await this.deps.store.notifier.publish(NODE_REMOVED_CHANNEL, node.id);
    await this.deps.events.append('node.removed', node.id, { name: node.name, by: actor });
    for (const serial of serials) await this.deps.events.append('cert.revoked', node.id, { serial, reason: 'node removed' });
    return this.view({ ...node, state: 'removed', removedAt: now, stateChangedAt: now });
  }

  view(node: NodeRecord): NodeView {
    return {
      id: node.id,
      name: node.name,
      labels: node.labels,
      state: node.state,
      joinedAt: node.joinedAt,
      lastSeenAt: node.lastSeenAt,
      stateChangedAt: node.stateChangedAt,
      removedAt: node.removedAt,
      agentVersion: node.agentVersion,
      protocolVersion: node.protocolVersion,
      certSerial: node.certSerial,
      certNotAfter: node.certNotAfter,
      connected: this.deps.isConnected(node.id),
      facts: node.facts,
    };
  }
}
