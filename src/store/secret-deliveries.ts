import type { Kysely, Selectable } from 'kysely';
import type { SecretDeliveryState } from '../protocol/secret-delivery.js';
import type { Database, SecretDeliveriesTable, SecretDeliveryStatusTable } from './database.js';
import { withTransaction } from './transaction.js';

export interface SecretDeliveryRecord {
  id: string;
  path: string;
  selector: string;
  dest: string;
  mode: number;
  owner: string | null;
  group: string | null;
  createdBy: string;
  createdAt: number;
  deletedAt: number | null;
}

export interface DeliveryStatusRecord {
  deliveryId: string;
  nodeId: string;
  version: number;
  state: SecretDeliveryState;
  error: string | null;
  updatedAt: number;
}

function toDelivery(row: Selectable<SecretDeliveriesTable>): SecretDeliveryRecord {
  return {
    id: row.id,
    path: row.path,
    selector: row.selector,
    dest: row.dest,
    mode: row.mode,
    owner: row.owner,
    group: row.grp,
    createdBy: row.created_by,
    createdAt: row.created_at,
    deletedAt: row.deleted_at,
  };
}

function toStatus(row: Selectable<SecretDeliveryStatusTable>): DeliveryStatusRecord {
  return {
    deliveryId: row.delivery_id,
    nodeId: row.node_id,
    version: row.version,
    state: row.state as SecretDeliveryState,
    error: row.error,
    updatedAt: row.updated_at,
  };
}

export async function insertDelivery(db: Kysely<Database>, rec: SecretDeliveryRecord): Promise<void> {
  await db
    .insertInto('secret_deliveries')
    .values({
      id: rec.id,
      path: rec.path,
      selector: rec.selector,
      dest: rec.dest,
      mode: rec.mode,
      owner: rec.owner,
      grp: rec.group,
      created_by: rec.createdBy,
      created_at: rec.createdAt,
      deleted_at: rec.deletedAt,
    })
    .execute();
}

export async function getDelivery(db: Kysely<Database>, id: string): Promise<SecretDeliveryRecord | undefined> {
  const row = await db.selectFrom('secret_deliveries').selectAll().where('id', '=', id).executeTakeFirst();
  return row && toDelivery(row);
}

/** Deliveries oldest first; deleted ones only when asked for. */
export async function listDeliveries(db: Kysely<Database>, opts: { path?: string; includeDeleted?: boolean } = {}): Promise<SecretDeliveryRecord[]> {
  let query = db.selectFrom('secret_deliveries').selectAll();
  if (opts.path !== undefined) query = query.where('path', '=', opts.path);
  if (!opts.includeDeleted) query = query.where('deleted_at', 'is', null);
  const rows = await query.orderBy('created_at').orderBy('id').execute();
  return rows.map(toDelivery);
}

/** Marks a delivery deleted; false when it is unknown or already deleted. */
export async function markDeliveryDeleted(db: Kysely<Database>, id: string, at: number): Promise<boolean> {
  const result = await db.updateTable('secret_deliveries').set({ deleted_at: at }).where('id', '=', id).where('deleted_at', 'is', null).executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** Ids (and paths) of those of `ids` that exist, deleted ones included. */
export async function existingDeliveries(db: Kysely<Database>, ids: readonly string[]): Promise<Map<string, SecretDeliveryRecord>> {
  if (ids.length === 0) return new Map();
  const rows = await db.selectFrom('secret_deliveries').selectAll().where('id', 'in', [...ids]).execute();
  return new Map(rows.map((r) => [r.id, toDelivery(r)]));
}

export async function listDeliveryStatus(db: Kysely<Database>, deliveryIds: readonly string[]): Promise<DeliveryStatusRecord[]> {
  if (deliveryIds.length === 0) return [];
  const rows = await db.selectFrom('secret_delivery_status').selectAll().where('delivery_id', 'in', [...deliveryIds]).execute();
  return rows.map(toStatus);
}

export async function nodeDeliveryStatus(db: Kysely<Database>, nodeId: string, deliveryIds: readonly string[]): Promise<Map<string, DeliveryStatusRecord>> {
  if (deliveryIds.length === 0) return new Map();
  const rows = await db
    .selectFrom('secret_delivery_status')
    .selectAll()
    .where('node_id', '=', nodeId)
    .where('delivery_id', 'in', [...deliveryIds])
    .execute();
  return new Map(rows.map((r) => [r.delivery_id, toStatus(r)]));
}

/** Writes one node's reported states (one row per delivery and node, replaced). */
export async function upsertDeliveryStatus(db: Kysely<Database>, rows: readonly DeliveryStatusRecord[]): Promise<void> {
  if (rows.length === 0) return;
  await withTransaction(db, async (trx) => {
    for (const r of rows) {
      const values = { version: r.version, state: r.state, error: r.error, updated_at: r.updatedAt };
      await trx
        .insertInto('secret_delivery_status')
        .values({ delivery_id: r.deliveryId, node_id: r.nodeId, ...values })
        .onConflict((oc) => oc.columns(['delivery_id', 'node_id']).doUpdateSet(values))
        .execute();
    }
  });
}
