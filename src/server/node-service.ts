import type { Clock } from '../core/clock.js';
import { BulwarkError } from '../core/errors.js';
import { assertLabels, isValidLabelKey, matchesSelector, parseSelector, type Labels } from '../core/labels.js';
import type { NodeState, NodeView } from '../protocol/api.js';
import type { Store } from '../store/open.js';
import { findNodes, getNode, listNodes, markNodeRemoved, setNodeLabels, type NodeRecord } from '../store/nodes.js';
import { revokeNodeCertificates } from '../store/certificates.js';
import type { EventLog } from './event-log.js';

export const NODE_REMOVED_CHANNEL = 'bulwark_node_removed';
/** Payload: the node id whose labels changed (replicas drop what they derived from them). */
export const NODE_LABELS_CHANNEL = 'bulwark_node_labels';
/** Labels one node may carry. */
export const MAX_NODE_LABELS = 256;

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

  /**
   * Sets and removes labels of a node. `allowed` judges the labels the node would
   * end up with: a caller whose rights are scoped by labels must not move a node
   * out of what it may update. Every replica hears of the change (the notifier).
   */
  async updateLabels(nodeId: string, patch: { set: Labels; remove: readonly string[] }, actor: string, allowed: (labels: Labels) => boolean = () => true): Promise<NodeView> {
    assertLabels(patch.set);
    for (const key of patch.remove) {
      if (!isValidLabelKey(key)) throw new BulwarkError('INVALID_LABEL', `label key "${key}" is invalid: use letters, digits, "-", "_", "." and an optional "prefix/"`);
      if (Object.hasOwn(patch.set, key)) throw new BulwarkError('BAD_REQUEST', `label "${key}" is both set and removed; do one or the other`);
    }
    // Compare-and-set: a concurrent edit makes the write miss, and it is redone on the new labels.
    for (let attempt = 0; attempt < 5; attempt++) {
      const node = await getNode(this.deps.store.db, nodeId);
      if (!node) throw nodeNotFound(nodeId);
      if (node.state === 'removed') throw new BulwarkError('CONFLICT', `node ${node.id} was removed; its labels cannot change`);
      const next: Labels = { ...node.labels, ...patch.set };
      for (const key of patch.remove) delete next[key];
      const removed = patch.remove.filter((k) => Object.hasOwn(node.labels, k));
      const set = Object.fromEntries(Object.entries(patch.set).filter(([k, v]) => node.labels[k] !== v));
      if (removed.length === 0 && Object.keys(set).length === 0) return this.view(node);
      if (Object.keys(next).length > MAX_NODE_LABELS) throw new BulwarkError('BAD_REQUEST', `a node carries at most ${MAX_NODE_LABELS} labels`);
      if (!allowed(next)) throw new BulwarkError('FORBIDDEN', `these labels would take node ${node.id} out of the nodes you may update`);
      if (await setNodeLabels(this.deps.store.db, node.id, node.labels, next)) {
        await this.deps.store.notifier.publish(NODE_LABELS_CHANNEL, node.id);
        await this.deps.events.append('node.labels_changed', node.id, { set, removed, labels: next, by: actor });
        return this.view({ ...node, labels: next });
      }
    }
    throw new BulwarkError('CONFLICT', `the labels of node ${nodeId} keep changing concurrently; try again`);
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
