import { createHash, randomUUID } from 'node:crypto';
import { authorize, describeRule } from '../access/evaluate.js';
import { WILDCARD, type Role } from '../access/roles.js';
import type { Clock } from '../core/clock.js';
import { canonicalJson } from '../core/canonical-json.js';
import { BulwarkError } from '../core/errors.js';
import { newId } from '../core/ids.js';
import { matchesSelector, parseSelector, type Labels, type Selector } from '../core/labels.js';
import type { Logger } from '../core/logger.js';
import { SingleFlight } from '../core/single-flight.js';
import {
  FileModeSchema,
  SECRET_DELIVERY_LIMITS,
  formatFileMode,
  parseFileMode,
  type CreateSecretDelivery,
  type DeliveryNodeStatus,
  type ManifestItem,
  type SecretDeliveryState,
  type SecretDeliveryView,
  type SecretFetch,
  type SecretValue,
  type SecretsManifest,
  type StatusItem,
} from '../protocol/secret-delivery.js';
import type { Store } from '../store/open.js';
import { getNode, listNodes } from '../store/nodes.js';
import {
  existingDeliveries,
  getDelivery,
  insertDelivery,
  listDeliveries,
  listDeliveryStatus,
  markDeliveryDeleted,
  nodeDeliveryStatus,
  upsertDeliveryStatus,
  type DeliveryStatusRecord,
  type SecretDeliveryRecord,
} from '../store/secret-deliveries.js';
import type { AccessService, Principal } from './access-service.js';
import type { SessionSecrets } from './agent-session.js';
import type { Auditor } from './api/guard.js';
import type { EventLog } from './event-log.js';
import { NODE_LABELS_CHANNEL, NODE_REMOVED_CHANNEL } from './node-service.js';
import { SECRETS_CHANNEL } from './secret-service.js';

/** Payload: the id of a delivery created or deleted. */
export const DELIVERIES_CHANNEL = 'bulwark_secret_deliveries';
/** How often the caches are rebuilt anyway, for a replica that missed a notification. */
const REFRESH_MS = 60_000;
const LABELS_CHUNK = 500;
/**
 * Fetches per node and replica: a burst for a node catching up on many
 * deliveries, then one a second. A node needs one fetch per new version it
 * holds; beyond that it only grows the audit log.
 */
const FETCH_BURST = 20;
const FETCHES_PER_MINUTE = 60;
const MINUTE_MS = 60_000;

/** What delivery needs of the secrets store. */
export interface SecretSource {
  currentValue(path: string): Promise<{ version: number; value: Buffer } | undefined>;
  currentVersions(paths: readonly string[]): Promise<Map<string, number>>;
}

export interface SecretDeliveryDeps {
  store: Store;
  clock: Clock;
  log: Logger;
  events: EventLog;
  access: AccessService;
  secrets: SecretSource;
  /** Every value a node fetches, and every refusal, is written here. */
  audit: Auditor;
  refreshMs?: number;
}

/** What every node's manifest is computed from: the active deliveries and their secrets' current versions. */
interface Snapshot {
  deliveries: { record: SecretDeliveryRecord; selector: Selector }[];
  /** Per secret path that exists (and fits a message): its current version and the sha256 of its value. */
  values: Map<string, { version: number; sha256: string }>;
}

interface CachedManifest {
  snapshot: Snapshot;
  labels: Labels | null;
  hash: string;
  message: SecretsManifest;
}

/**
 * Delivers secrets to nodes: deliveries (secret path → label selector →
 * destination file), each node's manifest, the authorisation of every fetch,
 * and what the agents report.
 *
 * Heartbeats ask for a node's manifest many times a second across a fleet, so
 * it comes from caches: one snapshot of deliveries and secret versions per
 * replica, node labels per connected node, and the manifest per node, each
 * dropped when a notification says its source changed (secrets, deliveries,
 * labels, removals — from any replica) and rebuilt on the next heartbeat. A
 * fetch never trusts the caches: it re-reads the delivery, the node and the
 * secret.
 */
export class SecretDeliveryService implements SessionSecrets {
  readonly #snapshot = new SingleFlight<Snapshot>();
  readonly #labels = new Map<string, Promise<Labels | null>>();
  readonly #manifests = new Map<string, CachedManifest>();
  /** sha256 of each path's value at a version: a value is decrypted once per version, not per rebuild. */
  readonly #digests = new Map<string, { version: number; sha256: string | null }>();
  readonly #unsubscribe: (() => void)[];
  readonly #refreshTimer: NodeJS.Timeout;
  #overfull = new Set<string>();
  /** Token buckets of secret fetches, per node; kept across reconnects, so reconnecting does not refill one. */
  readonly #fetchBuckets = new Map<string, { tokens: number; at: number; warnedAt: number }>();

  constructor(private readonly deps: SecretDeliveryDeps) {
    const notifier = deps.store.notifier;
    const dropNode = (nodeId: string): void => {
      this.#labels.delete(nodeId);
      this.#manifests.delete(nodeId);
    };
    this.#unsubscribe = [
      notifier.subscribe(SECRETS_CHANNEL, () => this.#snapshot.drop()),
      notifier.subscribe(DELIVERIES_CHANNEL, () => this.#snapshot.drop()),
      notifier.subscribe(NODE_LABELS_CHANNEL, dropNode),
      notifier.subscribe(NODE_REMOVED_CHANNEL, dropNode),
    ];
    this.#refreshTimer = setInterval(() => void this.refresh(), deps.refreshMs ?? REFRESH_MS);
    this.#refreshTimer.unref();
  }

  close(): void {
    clearInterval(this.#refreshTimer);
    for (const unsubscribe of this.#unsubscribe) unsubscribe();
  }

  // -------------------------------------------------------------------------
  // Operator side

  async create(principal: Principal, input: CreateSecretDelivery): Promise<SecretDeliveryView> {
    const roles = await this.deps.access.resolve(principal.roles);
    assertUnscoped(roles, 'create a delivery');
    const selector = parseSelector(input.selector);
    if (selector.requirements.length === 0) {
      throw new BulwarkError('INVALID_SELECTOR', 'the selector is empty: name the nodes that should get the secret, e.g. role=db');
    }
    const mode = parseFileMode(input.mode);
    const checked = FileModeSchema.safeParse(mode);
    if (mode === undefined || !checked.success) {
      throw new BulwarkError('BAD_REQUEST', `mode ${input.mode} is not allowed: permission bits only (at most 0777), never writable by others`);
    }
    // Decided here, after everything the path does not decide: a path out of scope and a missing secret get one answer.
    const noSecret = (): BulwarkError => new BulwarkError('NOT_FOUND', `secret "${input.path}" does not exist; create it first`);
    assertPathInScope(roles, input.path, 'create a delivery', noSecret);
    const versions = await this.deps.secrets.currentVersions([input.path]);
    const version = versions.get(input.path);
    if (version === undefined) throw noSecret();
    const current = await this.deps.secrets.currentValue(input.path);
    if (current && current.value.length > SECRET_DELIVERY_LIMITS.maxValueBytes) {
      throw new BulwarkError('PAYLOAD_TOO_LARGE', `secret "${input.path}" is ${current.value.length} bytes; a delivered secret is at most ${SECRET_DELIVERY_LIMITS.maxValueBytes} bytes`);
    }
    const db = this.deps.store.db;
    const active = await listDeliveries(db);
    if (active.length >= SECRET_DELIVERY_LIMITS.maxDeliveries) {
      throw new BulwarkError('CONFLICT', `the cluster already has ${active.length} deliveries, the most it holds; remove some with \`bulwark secret undeliver\``);
    }
    // Two deliveries writing one file would overwrite each other on every change.
    const clash = active.find((d) => d.dest === input.dest);
    if (clash) throw new BulwarkError('CONFLICT', `delivery ${clash.id} already writes ${input.dest}; remove it first or choose another destination`);
    const parsed = active.map((d) => ({ d, selector: safeSelector(d.selector) }));
    for (const node of await listNodes(db)) {
      if (!matchesSelector(selector, node.labels)) continue;
      const held = parsed.filter((p) => p.selector !== undefined && matchesSelector(p.selector, node.labels)).length;
      if (held >= SECRET_DELIVERY_LIMITS.maxItemsPerNode) {
        throw new BulwarkError('CONFLICT', `node ${node.name} (${node.id}) already receives ${held} secrets, the most one node holds`);
      }
    }
    const record: SecretDeliveryRecord = {
      id: newId('sdl'),
      path: input.path,
      selector: selector.source,
      dest: input.dest,
      mode,
      owner: input.owner ?? null,
      group: input.group ?? null,
      createdBy: principal.actor,
      createdAt: this.deps.clock.now(),
      deletedAt: null,
    };
    await insertDelivery(db, record);
    await this.deps.store.notifier.publish(DELIVERIES_CHANNEL, record.id);
    await this.deps.events.append('secret.delivery_created', null, { deliveryId: record.id, path: record.path, selector: record.selector, dest: record.dest, by: principal.actor });
    const [view] = await this.#views([record], principal, new Map([[record.path, version]]));
    return view as SecretDeliveryView;
  }

  /** Stops a delivery: its files are removed from the nodes as their next manifest leaves it out. */
  async remove(principal: Principal, id: string): Promise<void> {
    const roles = await this.deps.access.resolve(principal.roles);
    assertUnscoped(roles, 'remove a delivery');
    const db = this.deps.store.db;
    const noDelivery = (): BulwarkError => new BulwarkError('NOT_FOUND', `no secret delivery "${id}"; list them with \`bulwark secret deliveries\``);
    const existing = await getDelivery(db, id);
    if (!existing) throw noDelivery();
    // One of a path out of the caller's scope is answered as if it did not exist.
    assertPathInScope(roles, existing.path, 'remove a delivery', noDelivery);
    if (!(await markDeliveryDeleted(db, id, this.deps.clock.now()))) {
      throw new BulwarkError('CONFLICT', `secret delivery ${id} was already removed`);
    }
    await this.deps.store.notifier.publish(DELIVERIES_CHANNEL, id);
    await this.deps.events.append('secret.delivery_deleted', null, { deliveryId: id, by: principal.actor });
  }

  /**
   * Deliveries (of one secret, or all) of the paths the caller may list, with
   * the status of every node the caller may list secrets on.
   */
  async list(principal: Principal, opts: { path?: string; includeDeleted?: boolean } = {}): Promise<SecretDeliveryView[]> {
    const visible = await this.deps.access.pathFilter(principal, 'secrets', 'list');
    const deliveries = (await listDeliveries(this.deps.store.db, opts)).filter((d) => visible(d.path));
    const versions = await this.deps.secrets.currentVersions([...new Set(deliveries.map((d) => d.path))]);
    return this.#views(deliveries, principal, versions);
  }

  async #views(deliveries: readonly SecretDeliveryRecord[], principal: Principal, versions: Map<string, number>): Promise<SecretDeliveryView[]> {
    const db = this.deps.store.db;
    const visible = await this.deps.access.nodeFilter(principal, 'secrets', 'list');
    const nodes = (await listNodes(db, { includeRemoved: true })).filter((n) => visible(n.labels));
    const rows = await listDeliveryStatus(
      db,
      deliveries.map((d) => d.id),
    );
    const byDelivery = new Map<string, Map<string, DeliveryStatusRecord>>();
    for (const row of rows) {
      let m = byDelivery.get(row.deliveryId);
      if (!m) byDelivery.set(row.deliveryId, (m = new Map()));
      m.set(row.nodeId, row);
    }
    return deliveries.map((d) => {
      const selector = safeSelector(d.selector);
      const current = versions.get(d.path) ?? null;
      const statuses = byDelivery.get(d.id) ?? new Map<string, DeliveryStatusRecord>();
      const entries: DeliveryNodeStatus[] = [];
      for (const node of nodes) {
        const matches = d.deletedAt === null && node.state !== 'removed' && selector !== undefined && matchesSelector(selector, node.labels);
        const row = statuses.get(node.id);
        if (!matches && !row) continue;
        entries.push({
          nodeId: node.id,
          nodeName: node.name,
          matches,
          state: shownState(matches, row, current),
          version: row?.version ?? null,
          error: row?.error ?? null,
          updatedAt: row?.updatedAt ?? null,
        });
      }
      return {
        id: d.id,
        path: d.path,
        selector: d.selector,
        dest: d.dest,
        mode: formatFileMode(d.mode),
        owner: d.owner,
        group: d.group,
        createdBy: d.createdBy,
        createdAt: d.createdAt,
        deletedAt: d.deletedAt,
        currentVersion: current,
        nodes: entries,
      };
    });
  }

  // -------------------------------------------------------------------------
  // Agent side (SessionSecrets)

  /** What the node should hold now, from the caches; undefined for a node that is gone. */
  async manifest(nodeId: string): Promise<{ hash: string; message: SecretsManifest } | undefined> {
    const snapshotPromise = this.#currentSnapshot();
    const labelsPromise = this.#labelsOf(nodeId);
    const [snapshot, labels] = await Promise.all([snapshotPromise, labelsPromise]);
    if (labels === null) return undefined;
    const cached = this.#manifests.get(nodeId);
    if (cached && cached.snapshot === snapshot && cached.labels === labels) return cached;
    const items: ManifestItem[] = [];
    for (const { record, selector } of snapshot.deliveries) {
      if (!matchesSelector(selector, labels)) continue;
      const value = snapshot.values.get(record.path);
      if (!value) continue;
      if (items.length >= SECRET_DELIVERY_LIMITS.maxItemsPerNode) {
        if (!this.#overfull.has(nodeId)) this.deps.log.warn({ nodeId, limit: SECRET_DELIVERY_LIMITS.maxItemsPerNode }, 'node matches more secret deliveries than it may hold; the newest are left out');
        this.#overfull.add(nodeId);
        break;
      }
      items.push({
        deliveryId: record.id,
        path: record.path,
        version: value.version,
        dest: record.dest,
        mode: record.mode,
        ...(record.owner === null ? {} : { owner: record.owner }),
        ...(record.group === null ? {} : { group: record.group }),
        sha256: value.sha256,
      });
    }
    const message: SecretsManifest = { type: 'secrets_manifest', items };
    const entry: CachedManifest = { snapshot, labels, hash: sha256Hex(canonicalJson(items)), message };
    // Only a manifest built from the current caches is kept; one raced by an invalidation is rebuilt next time.
    if (this.#snapshot.current === snapshotPromise && this.#labels.get(nodeId) === labelsPromise) this.#manifests.set(nodeId, entry);
    return entry;
  }

  /**
   * The value of a delivery for a node that asks. Checked again at this moment,
   * whatever the node was told before: the delivery exists, the node exists, is
   * not removed and matches the selector, and the version asked for is the
   * current one. Every answer is written to the audit log, except refusals
   * for fetching too often (`RATE_LIMITED`, logged once a minute per node).
   */
  async fetch(nodeId: string, request: SecretFetch): Promise<SecretValue> {
    // Refused before anything is read or audited: a node looping fetches must not grow the audit log without bound.
    const wait = this.#takeFetch(nodeId);
    if (wait > 0) {
      throw new BulwarkError('RATE_LIMITED', `more than ${FETCHES_PER_MINUTE} secret fetches a minute from this node; retry in ${Math.ceil(wait / 1000)} s`, { retryAfterMs: wait });
    }
    const db = this.deps.store.db;
    const delivery = await getDelivery(db, request.deliveryId);
    const node = await getNode(db, nodeId);
    const selector = delivery && safeSelector(delivery.selector);
    const resource = `/v1/secrets/${delivery?.path ?? '?'}`;
    const audit = (decision: 'allow' | 'deny', outcome: 'success' | 'failure', details: Record<string, unknown>): Promise<unknown> =>
      this.deps.audit.append({
        actor: `node:${nodeId}`,
        action: 'secrets.fetch',
        resource,
        decision,
        source: 'agent-channel',
        requestId: randomUUID(),
        outcome,
        details: { deliveryId: request.deliveryId, version: request.version, ...details },
      });
    // One answer for every refusal: a node learns nothing about deliveries that are not its own.
    if (!delivery || delivery.deletedAt !== null || !node || node.state === 'removed' || !selector || !matchesSelector(selector, node.labels)) {
      await audit('deny', 'failure', { reason: !delivery ? 'no such delivery' : delivery.deletedAt !== null ? 'delivery removed' : !node || node.state === 'removed' ? 'node removed' : 'node does not match the selector' });
      throw new BulwarkError('FORBIDDEN', `this node may not fetch delivery ${request.deliveryId}`);
    }
    const current = await this.deps.secrets.currentValue(delivery.path);
    if (!current) {
      await audit('allow', 'failure', { reason: 'secret does not exist' });
      throw new BulwarkError('NOT_FOUND', `secret "${delivery.path}" no longer exists`);
    }
    if (current.version !== request.version) {
      await audit('allow', 'failure', { reason: 'stale version', currentVersion: current.version });
      throw new BulwarkError('CONFLICT', `version ${request.version} of ${delivery.path} is not the current one (${current.version}); the next manifest names it`);
    }
    if (current.value.length > SECRET_DELIVERY_LIMITS.maxValueBytes) {
      await audit('allow', 'failure', { reason: 'value too large' });
      throw new BulwarkError('PAYLOAD_TOO_LARGE', `secret "${delivery.path}" is larger than ${SECRET_DELIVERY_LIMITS.maxValueBytes} bytes and cannot be delivered`);
    }
    await audit('allow', 'success', { path: delivery.path });
    return { type: 'secret_value', requestId: request.requestId, deliveryId: delivery.id, version: current.version, value: current.value.toString('base64') };
  }

  /**
   * Records what a node reports, writing only rows that changed (an agent
   * reports its whole state after each reconnect). A node may report removals
   * and errors of any existing delivery, but `delivered` (or `pending`) only of
   * an active one whose selector matches its labels now — read from the
   * database, not from a cached manifest, which this replica may not have.
   */
  async status(nodeId: string, items: readonly StatusItem[]): Promise<void> {
    const db = this.deps.store.db;
    const known = await existingDeliveries(db, [...new Set(items.map((i) => i.deliveryId))]);
    const node = await getNode(db, nodeId);
    const labels = node && node.state !== 'removed' ? node.labels : undefined;
    const targets = (record: SecretDeliveryRecord): boolean => {
      const selector = safeSelector(record.selector);
      return record.deletedAt === null && labels !== undefined && selector !== undefined && matchesSelector(selector, labels);
    };
    const accepted = new Map<string, StatusItem>();
    for (const item of items) {
      const record = known.get(item.deliveryId);
      if (!record) continue;
      if ((item.state === 'delivered' || item.state === 'pending') && !targets(record)) continue;
      accepted.set(item.deliveryId, item);
    }
    if (accepted.size === 0) return;
    const previous = await nodeDeliveryStatus(db, nodeId, [...accepted.keys()]);
    const now = this.deps.clock.now();
    const changed: DeliveryStatusRecord[] = [];
    for (const item of accepted.values()) {
      const before = previous.get(item.deliveryId);
      const error = item.error ?? null;
      if (before && before.state === item.state && before.version === item.version && before.error === error) continue;
      changed.push({ deliveryId: item.deliveryId, nodeId, version: item.version, state: item.state, error, updatedAt: now });
    }
    if (changed.length === 0) return;
    await upsertDeliveryStatus(db, changed);
    for (const row of changed) {
      const delivery = known.get(row.deliveryId);
      const details = { deliveryId: row.deliveryId, path: delivery?.path, dest: delivery?.dest, version: row.version };
      if (row.state === 'delivered') await this.deps.events.append('secret.delivered', nodeId, details);
      else if (row.state === 'error') await this.deps.events.append('secret.delivery_failed', nodeId, { ...details, error: row.error });
    }
  }

  /** The node's channel to this replica closed: its cached labels and manifest go. */
  forget(nodeId: string): void {
    this.#labels.delete(nodeId);
    this.#manifests.delete(nodeId);
    this.#overfull.delete(nodeId);
  }

  /**
   * Rebuilds the snapshot and re-reads the labels of every cached node in
   * batches, keeping the cached objects whose content did not change (so their
   * manifests stay cached); forgets the fetch buckets that are full again.
   */
  async refresh(): Promise<void> {
    try {
      this.#snapshot.drop();
      // A bucket full again is no different from none.
      const now = this.deps.clock.now();
      for (const [nodeId, bucket] of this.#fetchBuckets) {
        if (bucket.tokens + ((now - bucket.at) * FETCHES_PER_MINUTE) / MINUTE_MS >= FETCH_BURST) this.#fetchBuckets.delete(nodeId);
      }
      const ids = [...this.#labels.keys()];
      for (let i = 0; i < ids.length; i += LABELS_CHUNK) {
        const chunk = ids.slice(i, i + LABELS_CHUNK);
        const rows = await this.deps.store.db.selectFrom('nodes').select(['id', 'labels', 'state']).where('id', 'in', chunk).execute();
        const byId = new Map(rows.map((r) => [r.id, r]));
        for (const id of chunk) {
          const row = byId.get(id);
          const cached = this.#labels.get(id);
          if (!cached) continue;
          const before = await cached.catch(() => undefined);
          const now: Labels | null = row && row.state !== 'removed' ? (JSON.parse(row.labels) as Labels) : null;
          if (before === undefined || canonicalJson(before) !== canonicalJson(now)) {
            this.#labels.delete(id);
            this.#manifests.delete(id);
          }
        }
      }
    } catch (err) {
      this.deps.log.error({ err }, 'refreshing the secret delivery caches failed');
    }
  }

  /** Takes one fetch from the node's bucket: 0, or how long until the next one may be taken. */
  #takeFetch(nodeId: string): number {
    const now = this.deps.clock.now();
    const bucket = this.#fetchBuckets.get(nodeId) ?? { tokens: FETCH_BURST, at: now, warnedAt: -Infinity };
    bucket.tokens = Math.min(FETCH_BURST, bucket.tokens + ((now - bucket.at) * FETCHES_PER_MINUTE) / MINUTE_MS);
    bucket.at = now;
    this.#fetchBuckets.set(nodeId, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    if (now - bucket.warnedAt >= MINUTE_MS) {
      bucket.warnedAt = now;
      this.deps.log.warn({ nodeId, limit: FETCHES_PER_MINUTE }, 'node fetches secrets too often; refusing (RATE_LIMITED) without auditing each refusal for a minute');
    }
    return Math.ceil(((1 - bucket.tokens) * MINUTE_MS) / FETCHES_PER_MINUTE);
  }

  #currentSnapshot(): Promise<Snapshot> {
    return this.#snapshot.get(() => this.#buildSnapshot());
  }

  async #buildSnapshot(): Promise<Snapshot> {
    const records = await listDeliveries(this.deps.store.db);
    const paths = [...new Set(records.map((r) => r.path))];
    const versions = paths.length === 0 ? new Map<string, number>() : await this.deps.secrets.currentVersions(paths);
    const values = new Map<string, { version: number; sha256: string }>();
    for (const path of paths) {
      const version = versions.get(path);
      if (version === undefined) continue;
      let digest = this.#digests.get(path);
      if (!digest || digest.version !== version) {
        const current = await this.deps.secrets.currentValue(path);
        if (!current) continue;
        const fits = current.value.length <= SECRET_DELIVERY_LIMITS.maxValueBytes;
        if (!fits) this.deps.log.warn({ path, bytes: current.value.length }, 'secret too large to deliver; its deliveries are left out of manifests');
        digest = { version: current.version, sha256: fits ? sha256Hex(current.value) : null };
        this.#digests.set(path, digest);
      }
      if (digest.sha256 !== null) values.set(path, { version: digest.version, sha256: digest.sha256 });
    }
    for (const path of this.#digests.keys()) if (!versions.has(path)) this.#digests.delete(path);
    const deliveries: Snapshot['deliveries'] = [];
    for (const record of records) {
      const selector = safeSelector(record.selector);
      if (selector) deliveries.push({ record, selector });
    }
    return { deliveries, values };
  }

  #labelsOf(nodeId: string): Promise<Labels | null> {
    let labels = this.#labels.get(nodeId);
    if (!labels) {
      const loading = getNode(this.deps.store.db, nodeId).then((n) => (n && n.state !== 'removed' ? n.labels : null));
      labels = loading;
      this.#labels.set(nodeId, loading);
      loading.catch(() => {
        if (this.#labels.get(nodeId) === loading) this.#labels.delete(nodeId);
      });
    }
    return labels;
  }
}

/*
 * A delivery reaches whichever nodes its selector matches, now and after any
 * later label change, so no node scope of the caller could bound it: only
 * `secrets: deliver` granted for every node (a rule without a `nodes`
 * selector) may create or remove one, and only for a path it covers.
 */

function listHas(list: readonly string[], value: string): boolean {
  return list.includes(WILDCARD) || list.includes(value);
}

/** The caller can deliver on every node, at some path: otherwise 403 whatever the path (so it reveals nothing). */
function assertUnscoped(roles: readonly Role[], what: string): void {
  const unscoped = roles.some((role) => role.allow.some((rule) => rule.nodes === undefined && listHas(rule.resources, 'secrets') && listHas(rule.verbs, 'deliver')));
  if (!unscoped) {
    throw new BulwarkError('FORBIDDEN', `to ${what} you need secrets: deliver on every node (a rule without a nodes selector): a delivery follows its selector to any node`);
  }
}

/**
 * `secrets: deliver` is granted at `path` by a rule without a `nodes`
 * selector (otherwise `hidden()`, the answer for a missing one), and no deny
 * rule with a `nodes` selector covers the path: such a rule says nothing about
 * a request about no node, yet the delivery may reach exactly the nodes it
 * denies.
 */
function assertPathInScope(roles: readonly Role[], path: string, what: string, hidden: () => BulwarkError): void {
  const request = { resource: 'secrets', verb: 'deliver', path };
  if (!authorize(roles, request).allowed) throw hidden();
  for (const role of roles) {
    for (const rule of role.deny) {
      if (rule.nodes === undefined) continue;
      // The rule without its selector, decided alone: whether it covers this resource, verb and path.
      const { nodes: _selector, ...everywhere } = rule;
      if (authorize([{ name: role.name, allow: [], deny: [everywhere] }], request).reason.kind !== 'deny') continue;
      throw new BulwarkError(
        'FORBIDDEN',
        `to ${what} at ${path} no deny rule may narrow secrets: deliver to some nodes, but role ${role.name} has ${describeRule(rule)}: a delivery follows its selector to any node, so it cannot keep out of those`,
      );
    }
  }
}

/** A stored selector that no longer parses matches no node (fail closed). */
function safeSelector(text: string): Selector | undefined {
  try {
    return parseSelector(text);
  } catch {
    return undefined;
  }
}

function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * What the list shows for one node: `pending` while the node should get the
 * current version (or lose the file) and has not reported it; otherwise what it
 * reported.
 */
function shownState(matches: boolean, row: DeliveryStatusRecord | undefined, current: number | null): SecretDeliveryState {
  if (matches) {
    if (!row || row.state === 'removed') return 'pending';
    if (row.state === 'delivered' && current !== null && row.version !== current) return 'pending';
    return row.state;
  }
  if (row?.state === 'delivered' || row?.state === 'pending') return 'pending';
  return row?.state ?? 'pending';
}
