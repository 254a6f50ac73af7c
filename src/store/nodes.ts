import type { Kysely, Selectable } from 'kysely';
import { NODE_STATES, type NodeState } from '../protocol/api.js';
import type { NodeFacts } from '../protocol/facts.js';
import type { Database, NodesTable } from './database.js';
import { dialectOf } from './dialects/dialect.js';
import { parseJson } from './json.js';
import { withTransaction } from './transaction.js';

export interface NodeRecord {
  id: string;
  name: string;
  labels: Record<string, string>;
  state: NodeState;
  facts: NodeFacts | null;
  factsHash: string | null;
  certSerial: string | null;
  certNotAfter: number | null;
  agentVersion: string | null;
  protocolVersion: number | null;
  joinTokenId: string | null;
  joinedAt: number;
  lastSeenAt: number | null;
  stateChangedAt: number;
  removedAt: number | null;
}

function toRecord(row: Selectable<NodesTable>): NodeRecord {
  return {
    id: row.id,
    name: row.name,
    labels: parseJson<Record<string, string>>(row.labels, 'nodes.labels'),
    state: row.state,
    facts: row.facts === null ? null : parseJson<NodeFacts>(row.facts, 'nodes.facts'),
    factsHash: row.facts_hash,
    certSerial: row.cert_serial,
    certNotAfter: row.cert_not_after,
    agentVersion: row.agent_version,
    protocolVersion: row.protocol_version,
    joinTokenId: row.join_token_id,
    joinedAt: row.joined_at,
    lastSeenAt: row.last_seen_at,
    stateChangedAt: row.state_changed_at,
    removedAt: row.removed_at,
  };
}

export async function insertNode(db: Kysely<Database>, rec: NodeRecord): Promise<void> {
  await db
    .insertInto('nodes')
    .values({
      id: rec.id,
      name: rec.name,
      labels: JSON.stringify(rec.labels),
      state: rec.state,
      facts: rec.facts === null ? null : JSON.stringify(rec.facts),
      facts_hash: rec.factsHash,
      cert_serial: rec.certSerial,
      cert_not_after: rec.certNotAfter,
      agent_version: rec.agentVersion,
      protocol_version: rec.protocolVersion,
      join_token_id: rec.joinTokenId,
      joined_at: rec.joinedAt,
      last_seen_at: rec.lastSeenAt,
      state_changed_at: rec.stateChangedAt,
      removed_at: rec.removedAt,
    })
    .execute();
}

export async function getNode(db: Kysely<Database>, id: string): Promise<NodeRecord | undefined> {
  const row = await db.selectFrom('nodes').selectAll().where('id', '=', id).executeTakeFirst();
  return row && toRecord(row);
}

/** Nodes whose id or name is `ref`, removed ones included; the caller decides about ambiguity. */
export async function findNodes(db: Kysely<Database>, ref: string): Promise<NodeRecord[]> {
  const rows = await db
    .selectFrom('nodes')
    .selectAll()
    .where((eb) => eb.or([eb('id', '=', ref), eb('name', '=', ref)]))
    .orderBy('name')
    .orderBy('id')
    .execute();
  return rows.map(toRecord);
}

/** Nodes ordered by name then id; removed ones only when asked for (or when `state` is `removed`). */
export async function listNodes(db: Kysely<Database>, opts: { includeRemoved?: boolean; state?: NodeState } = {}): Promise<NodeRecord[]> {
  let query = db.selectFrom('nodes').selectAll();
  if (opts.state !== undefined) query = query.where('state', '=', opts.state);
  else if (!opts.includeRemoved) query = query.where('state', '!=', 'removed');
  const rows = await query.orderBy('name').orderBy('id').execute();
  return rows.map(toRecord);
}

/** What the membership sweep needs of a node: no labels or facts to parse. */
export interface NodeLiveness {
  id: string;
  state: NodeState;
  lastSeenAt: number | null;
  stateChangedAt: number;
}

/**
 * Nodes in one of `states` not seen since before `before` (the last heartbeat, or
 * the last state change when there was none), ordered by name then id. Lets the
 * sweep read only the few nodes that went quiet instead of the whole fleet.
 */
export async function listSilentNodes(db: Kysely<Database>, states: readonly NodeState[], before: number): Promise<NodeLiveness[]> {
  if (states.length === 0) return [];
  const rows = await db
    .selectFrom('nodes')
    .select(['id', 'state', 'last_seen_at', 'state_changed_at'])
    .where('state', 'in', states)
    .where((eb) => eb(eb.fn.coalesce('last_seen_at', 'state_changed_at'), '<', before))
    .orderBy('name')
    .orderBy('id')
    .execute();
  return rows.map((r) => ({ id: r.id, state: r.state, lastSeenAt: r.last_seen_at, stateChangedAt: r.state_changed_at }));
}

/**
 * Moves a node to `state`; false when the node is unknown, removed, or already in
 * that state. Removal goes through {@link markNodeRemoved} only.
 */
export async function setNodeState(db: Kysely<Database>, id: string, state: NodeState, at: number): Promise<boolean> {
  const result = await db
    .updateTable('nodes')
    .set({ state, state_changed_at: at })
    .where('id', '=', id)
    .where('state', '!=', 'removed')
    .where('state', '!=', state)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/**
 * Moves a node to `to` only if it is now in one of `from`, in one statement, so
 * two replicas judging the same heartbeat gap cannot both record the transition.
 * A removed node never moves, whatever `from` says.
 */
export async function compareAndSetNodeState(db: Kysely<Database>, id: string, from: readonly NodeState[], to: NodeState, at: number): Promise<boolean> {
  const allowed = from.filter((s) => s !== 'removed' && s !== to);
  if (allowed.length === 0) return false;
  const result = await db
    .updateTable('nodes')
    .set({ state: to, state_changed_at: at })
    .where('id', '=', id)
    .where('state', 'in', allowed)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

const REMOVED_LOOKUP_CHUNK = 500;

/**
 * Records heartbeats of many nodes in one transaction. Removed nodes are left
 * alone: a heartbeat already in flight when a node is removed must not touch it.
 */
export async function touchLastSeen(db: Kysely<Database>, entries: readonly { id: string; at: number }[]): Promise<void> {
  if (entries.length === 0) return;
  await withTransaction(db, async (trx) => {
    const removed = new Set<string>();
    for (let i = 0; i < entries.length; i += REMOVED_LOOKUP_CHUNK) {
      const ids = entries.slice(i, i + REMOVED_LOOKUP_CHUNK).map((e) => e.id);
      const rows = await trx.selectFrom('nodes').select('id').where('id', 'in', ids).where('state', '=', 'removed').execute();
      for (const row of rows) removed.add(row.id);
    }
    const live = removed.size === 0 ? entries : entries.filter((e) => !removed.has(e.id));
    if (live.length > 0) await dialectOf(trx).touchLastSeen(trx, live);
  });
}

/** Stores a node's facts; false (nothing written) when the node is unknown or removed. */
export async function setFacts(db: Kysely<Database>, id: string, facts: NodeFacts, hash: string): Promise<boolean> {
  const result = await db
    .updateTable('nodes')
    .set({ facts: JSON.stringify(facts), facts_hash: hash })
    .where('id', '=', id)
    .where('state', '!=', 'removed')
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

export async function setNodeCertificate(db: Kysely<Database>, id: string, serial: string, notAfter: number): Promise<boolean> {
  const result = await db.updateTable('nodes').set({ cert_serial: serial, cert_not_after: notAfter }).where('id', '=', id).executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

export async function setAgentInfo(db: Kysely<Database>, id: string, info: { agentVersion: string | null; protocolVersion: number | null }): Promise<boolean> {
  const result = await db
    .updateTable('nodes')
    .set({ agent_version: info.agentVersion, protocol_version: info.protocolVersion })
    .where('id', '=', id)
    .where('state', '!=', 'removed')
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/**
 * Replaces a node's labels if they are still `previous` (compare-and-set, so two
 * concurrent edits cannot lose one); false when they changed meanwhile or the
 * node is unknown or removed.
 */
export async function setNodeLabels(db: Kysely<Database>, id: string, previous: Record<string, string>, labels: Record<string, string>): Promise<boolean> {
  const result = await db
    .updateTable('nodes')
    .set({ labels: JSON.stringify(labels) })
    .where('id', '=', id)
    .where('state', '!=', 'removed')
    .where('labels', '=', JSON.stringify(previous))
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** Marks a node removed; false if it is unknown or already removed. */
export async function markNodeRemoved(db: Kysely<Database>, id: string, at: number): Promise<boolean> {
  const result = await db
    .updateTable('nodes')
    .set({ state: 'removed', state_changed_at: at, removed_at: at })
    .where('id', '=', id)
    .where('state', '!=', 'removed')
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** Node counts for every state, zeros included. */
export async function countNodesByState(db: Kysely<Database>): Promise<Record<NodeState, number>> {
  const rows = await db.selectFrom('nodes').select((eb) => ['state', eb.fn.countAll().as('count')]).groupBy('state').execute();
  const counts = Object.fromEntries(NODE_STATES.map((s) => [s, 0])) as Record<NodeState, number>;
  for (const row of rows) counts[row.state] = Number(row.count);
  return counts;
}
