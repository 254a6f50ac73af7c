import { createHash, randomUUID } from 'node:crypto';
import { authorize, describeRule } from '../access/evaluate.js';
import type { Role } from '../access/roles.js';
import { fleetRootKey } from '../backup/fleet-keys.js';
import { checkNewCredential, type Credential } from '../backup/key-file.js';
import { canonicalJson } from '../core/canonical-json.js';
import type { Clock } from '../core/clock.js';
import { BulwarkError, isBulwarkError, isErrorCode } from '../core/errors.js';
import { newId } from '../core/ids.js';
import { ConcurrencyLimiter } from '../core/rate-limiter.js';
import { everyWithoutOverlap } from '../core/periodic.js';
import { SingleFlight } from '../core/single-flight.js';
import { matchesSelector, parseSelector, type Labels, type Selector } from '../core/labels.js';
import type { Logger } from '../core/logger.js';
import type { RecordCipher } from '../keyring/record-cipher.js';
import {
  BACKUP_LIMITS,
  type BackupPolicies,
  type BackupRestoreResult,
  type BackupRunMessage,
  type DrillInput,
  type DrillResultMessage,
  type DrillView,
  type PolicyInput,
  type PolicyView,
  type RepoCredential,
  type RestoreInput,
  type RestoreOutcome,
  type RunNowInput,
  type RunNowOutcome,
  type RunView,
  type StatusRow,
} from '../protocol/backup.js';
import { countPolicies, deletePolicy, getPolicyByName, insertPolicy, listPolicies, replacePolicy, type BackupPolicyRecord } from '../store/backup-policies.js';
import {
  getDrillByDrillId,
  getRunByRunId,
  getStatus,
  insertDrill,
  insertRun,
  listDrills,
  listRuns,
  listStatus,
  markMissed,
  putStatus,
  trimDrills,
  trimRuns,
  type BackupDrillRecord,
  type BackupRunRecord,
} from '../store/backup-results.js';
import { getNode, listNodes, type NodeRecord } from '../store/nodes.js';
import type { Store } from '../store/open.js';
import type { AccessService, Principal } from './access-service.js';
import type { AgentSession, BackupAnswer, SessionBackups } from './agent-session.js';
import type { Auditor } from './api/guard.js';
import { buildBackupManifest, decodePolicySecret, encodePolicySecret, nodeRepository, policyBase, type ManifestPolicy, type PolicySecret } from './backup-manifest.js';
import { checkPolicy, nextFireAt } from './backup-policy.js';
import { missedNow, rpoOf, statusAfterRun, type CoveredNode } from './backup-rpo.js';
import type { EventLog } from './event-log.js';
import { NODE_LABELS_CHANNEL, NODE_REMOVED_CHANNEL, type NodeService } from './node-service.js';

/** Payload: the name of a policy set or removed; every replica drops its cached policies. */
export const BACKUP_POLICIES_CHANNEL = 'bulwark_backup_policies';
const REFRESH_MS = 60_000;
/** How often the leader looks for nodes without a good backup within max-age. */
export const DEFAULT_BACKUP_SWEEP_MS = 60_000;
/** Past a restore's, drill's or run's own timeout, how long the answer is still waited for. */
const ANSWER_GRACE_MS = 30_000;
/** Restores, drills and on-demand runs one caller may have waiting at once (per replica). */
export const MAX_REQUESTS_PER_CALLER = 8;
const NODES_CHUNK = 500;

export interface BackupServiceDeps {
  store: Store;
  clock: Clock;
  log: Logger;
  events: EventLog;
  access: AccessService;
  nodes: NodeService;
  /** Policy changes, credential deliveries, restores, drills and runs asked for are written here (never a credential). */
  audit: Auditor;
  /** Encrypts the repository credentials at rest. */
  cipher: RecordCipher;
  /** The node's live channel on this replica, if any. */
  session: (nodeId: string) => AgentSession | undefined;
  refreshMs?: number;
  sweepMs?: number;
}

/** Who asked, for the audit log. */
export interface RequestContext {
  source: string;
  requestId: string;
}

interface Snapshot {
  policies: ManifestPolicy[];
  hash: string;
}

/** How far ahead of the server's clock a node's report times may be. */
const REPORT_CLOCK_SKEW_MS = 5 * 60_000;

interface CachedNode {
  name: string;
  labels: Labels;
}

interface CachedManifest {
  snapshot: Snapshot;
  node: CachedNode;
  hash: string;
  message: BackupPolicies;
}

/**
 * Fleet backups on the server: policies (stored with their repository
 * credential encrypted by the keyring), the `backup_policies` each node
 * receives over its channel, the runs and drills agents report, the recovery
 * point per node and policy (with `backup.missed` when one falls behind its
 * objective), and restores, drills and runs asked for through the API.
 *
 * The policies a node receives come from caches like secret manifests do: one
 * snapshot of the policies (credentials decrypted once per version) per
 * replica, each connected node's name and labels, and each node's manifest,
 * dropped on a notification that its source changed and rebuilt every minute.
 */
export class BackupService implements SessionBackups {
  readonly #snapshot = new SingleFlight<Snapshot>();
  readonly #items = new Map<string, { key: string; policy: Omit<ManifestPolicy, 'selector'> }>();
  readonly #nodes = new Map<string, Promise<CachedNode | null>>();
  readonly #manifests = new Map<string, CachedManifest>();
  readonly #overfull = new Set<string>();
  readonly #legacyWarned = new Set<string>();
  /** Restores, drills and runs in flight per caller on this replica. */
  readonly #perCaller = new ConcurrencyLimiter({ max: MAX_REQUESTS_PER_CALLER, what: 'restores, drills and backup runs' });
  /** Who asked for each drill in flight through this replica, by request id. */
  readonly #drillRequesters = new Map<string, string>();
  readonly #unsubscribe: (() => void)[];
  readonly #refreshTimer: NodeJS.Timeout;
  #sweepTimer: NodeJS.Timeout | undefined;

  constructor(private readonly deps: BackupServiceDeps) {
    const notifier = deps.store.notifier;
    const dropNode = (nodeId: string): void => {
      this.#nodes.delete(nodeId);
      this.#manifests.delete(nodeId);
    };
    this.#unsubscribe = [
      notifier.subscribe(BACKUP_POLICIES_CHANNEL, () => this.#snapshot.drop()),
      notifier.subscribe(NODE_LABELS_CHANNEL, dropNode),
      notifier.subscribe(NODE_REMOVED_CHANNEL, dropNode),
    ];
    this.#refreshTimer = setInterval(() => void this.refresh(), deps.refreshMs ?? REFRESH_MS);
    this.#refreshTimer.unref();
  }

  /** Starts the missed-backup sweep (on whichever replica holds its leader lock). */
  start(): void {
    const lock = this.deps.store.leaderLock('bulwark_backup_sweep');
    this.#sweepTimer = everyWithoutOverlap(
      this.deps.sweepMs ?? DEFAULT_BACKUP_SWEEP_MS,
      async () => {
        if (lock.held || (await lock.tryAcquire())) await this.sweep();
      },
      (err) => this.deps.log.error({ err }, 'backup sweep failed'),
    );
  }

  close(): void {
    clearInterval(this.#refreshTimer);
    clearInterval(this.#sweepTimer);
    for (const unsubscribe of this.#unsubscribe) unsubscribe();
    this.#items.clear();
    this.#snapshot.drop();
    this.#manifests.clear();
  }

  // -------------------------------------------------------------------------
  // Policies

  /** Creates or replaces a policy. The credential is required to create one and kept when an update leaves it out. */
  async setPolicy(principal: Principal, name: string, input: PolicyInput, ctx: RequestContext): Promise<{ policy: PolicyView; created: boolean }> {
    await this.#assertUnscoped(principal, 'write', 'set a backup policy');
    const now = this.deps.clock.now();
    const checked = checkPolicy(input, now);
    const db = this.deps.store.db;
    const existing = await getPolicyByName(db, name);
    if (!existing) {
      if (input.credential === undefined) {
        throw new BulwarkError('BAD_REQUEST', `policy "${name}" is new: give the repository credential (--password-file or --key-file)`);
      }
      const count = await countPolicies(db);
      if (count >= BACKUP_LIMITS.maxPolicies) throw new BulwarkError('CONFLICT', `the cluster already has ${count} backup policies, the most it holds; remove some with \`bulwark backup policy rm\``);
    }
    // A kept credential stays with its repository: pointed elsewhere (storage someone else controls), it would
    // create a repository wrapped under the password there, open to offline guessing.
    if (existing && input.credential === undefined && (existing.repo !== checked.repo || (existing.s3Endpoint ?? null) !== (checked.s3Endpoint ?? null))) {
      throw new BulwarkError('BAD_REQUEST', `policy "${name}" moves to another repository: give its credential again (--password-file or --key-file)`);
    }
    if (input.credential !== undefined) checkCredential(input.credential);
    const s3Repo = checked.repo.startsWith('s3://');
    let secret: PolicySecret | undefined;
    let secretChanged = false;
    if (input.credential !== undefined || input.s3Credentials !== undefined || (existing?.s3Keys === true && !s3Repo)) {
      const previous = existing ? await this.#decryptSecret(existing) : undefined;
      const credential = input.credential ?? previous?.credential;
      if (!credential) throw new BulwarkError('INTERNAL', 'the stored credential of the policy is missing');
      const s3 = s3Repo ? (input.s3Credentials ?? previous?.s3) : undefined;
      // The root is derived once, here (a password costs a second of scrypt), and kept sealed with the credential.
      const kept = input.credential === undefined ? previous?.root : undefined;
      const root = kept ?? (await policyRoot(credential, name)).toString('base64');
      secret = { credential, root, ...(s3 === undefined ? {} : { s3 }) };
      secretChanged = true;
    }
    const id = existing?.id ?? newId('bkp');
    const credentialVersion = existing ? existing.credentialVersion + (secretChanged ? 1 : 0) : 1;
    const sealed = secret ? await this.deps.cipher.encrypt(encodePolicySecret(secret), { table: 'backup_policies', id, version: credentialVersion }) : (existing?.credential ?? '');
    const record: BackupPolicyRecord = {
      id,
      name,
      ...checked,
      credential: sealed,
      credentialKind: secret?.credential.kind ?? existing?.credentialKind ?? 'password',
      credentialVersion,
      s3Keys: secret ? secret.s3 !== undefined : (existing?.s3Keys ?? false),
      version: (existing?.version ?? 0) + 1,
      createdBy: existing?.createdBy ?? principal.actor,
      createdAt: existing?.createdAt ?? now,
      updatedBy: principal.actor,
      updatedAt: now,
    };
    if (existing) {
      if (!(await replacePolicy(db, record, existing.version))) throw new BulwarkError('CONFLICT', `policy "${name}" was changed by someone else meanwhile; look at it again and retry`);
    } else {
      try {
        await insertPolicy(db, record);
      } catch (err) {
        if (await getPolicyByName(db, name)) throw new BulwarkError('CONFLICT', `policy "${name}" was created by someone else meanwhile; look at it and retry`);
        throw err;
      }
    }
    await this.deps.store.notifier.publish(BACKUP_POLICIES_CHANNEL, name);
    await this.deps.events.append('backup.policy_set', null, { policy: name, version: record.version, selector: record.selector, repo: record.repo, by: principal.actor });
    await this.#audit(principal.actor, 'backups.policy_set', `/v1/backups/policies/${name}`, ctx, 'success', {
      policy: name,
      version: record.version,
      selector: record.selector,
      repo: record.repo,
      paths: record.paths,
      credentialKind: record.credentialKind,
      credentialChanged: secretChanged,
      s3Keys: record.s3Keys,
    });
    return { policy: policyView(record), created: !existing };
  }

  async removePolicy(principal: Principal, name: string, ctx: RequestContext): Promise<void> {
    await this.#assertUnscoped(principal, 'delete', 'remove a backup policy');
    const db = this.deps.store.db;
    const existing = await getPolicyByName(db, name);
    if (!existing || !(await deletePolicy(db, existing.id))) throw noPolicy(name);
    await this.deps.store.notifier.publish(BACKUP_POLICIES_CHANNEL, name);
    await this.deps.events.append('backup.policy_removed', null, { policy: name, by: principal.actor });
    await this.#audit(principal.actor, 'backups.policy_removed', `/v1/backups/policies/${name}`, ctx, 'success', { policy: name, version: existing.version });
  }

  /** Policies the caller may see: all with the verb granted on every node, else those covering a node in its scope. */
  async listPolicies(principal: Principal): Promise<PolicyView[]> {
    const visible = await this.#visiblePolicies(principal, 'list');
    return (await listPolicies(this.deps.store.db)).filter(visible).map(policyView);
  }

  async getPolicy(principal: Principal, name: string): Promise<PolicyView> {
    const policy = await getPolicyByName(this.deps.store.db, name);
    if (!policy || !(await this.#visiblePolicies(principal, 'read'))(policy)) throw noPolicy(name);
    return policyView(policy);
  }

  // -------------------------------------------------------------------------
  // Status and history

  /** Every node (in the caller's scope) × every policy covering it: the recovery point now and what comes next. */
  async status(principal: Principal, query: { selector?: string; policy?: string }): Promise<{ now: number; rows: StatusRow[] }> {
    const now = this.deps.clock.now();
    const visible = await this.deps.access.nodeFilter(principal, 'backups', 'list');
    const filter = parseSelector(query.selector ?? '');
    const nodes = (await listNodes(this.deps.store.db)).filter((n) => visible(n.labels) && matchesSelector(filter, n.labels));
    const policies = (await listPolicies(this.deps.store.db)).filter((p) => query.policy === undefined || p.name === query.policy);
    const statuses = new Map((await listStatus(this.deps.store.db)).map((s) => [`${s.nodeId}\0${s.policyId}`, s]));
    const rows: StatusRow[] = [];
    for (const policy of policies) {
      const selector = safeSelector(policy.selector);
      if (!selector) continue;
      const nextDueAt = nextFireAt(policy.schedule, now);
      for (const node of nodes) {
        if (!matchesSelector(selector, node.labels)) continue;
        const s = statuses.get(`${node.id}\0${policy.id}`);
        const lastGoodAt = s?.lastGoodAt ?? null;
        const rpo = rpoOf({ now, lastGoodAt, since: Math.max(policy.createdAt, node.joinedAt), maxAgeMs: policy.maxAgeMs });
        rows.push({
          nodeId: node.id,
          nodeName: node.name,
          policy: policy.name,
          lastGoodAt,
          lastGoodSnapshot: s?.lastGoodSnapshot ?? null,
          ageMs: rpo.ageMs,
          maxAgeMs: policy.maxAgeMs,
          overdue: rpo.overdue,
          lastRunAt: s?.lastRunAt ?? null,
          lastRunState: s?.lastRunState ?? null,
          lastError: s?.lastErrorCode ? { code: s.lastErrorCode, message: s.lastErrorMessage ?? '' } : null,
          nextDueAt,
        });
      }
    }
    rows.sort((a, b) => a.nodeName.localeCompare(b.nodeName) || a.policy.localeCompare(b.policy) || a.nodeId.localeCompare(b.nodeId));
    return { now, rows };
  }

  async runs(principal: Principal, query: { node?: string; policy?: string; limit: number }): Promise<RunView[]> {
    const { ids, names } = await this.#historyNodes(principal, query.node);
    const runs = await listRuns(this.deps.store.db, { nodeIds: ids, limit: query.limit, ...(query.policy === undefined ? {} : { policyName: query.policy }) });
    return runs.map((r) => runView(r, names.get(r.nodeId) ?? r.nodeId));
  }

  async drills(principal: Principal, query: { node?: string; policy?: string; limit: number }): Promise<DrillView[]> {
    const { ids, names } = await this.#historyNodes(principal, query.node);
    const drills = await listDrills(this.deps.store.db, { nodeIds: ids, limit: query.limit, ...(query.policy === undefined ? {} : { policyName: query.policy }) });
    return drills.map((d) => drillView(d, names.get(d.nodeId) ?? d.nodeId));
  }

  /** The nodes whose history the caller may list: one (by id or name) or all in scope, removed ones included. */
  async #historyNodes(principal: Principal, ref: string | undefined): Promise<{ ids: string[]; names: Map<string, string> }> {
    const visible = await this.deps.access.nodeFilter(principal, 'backups', 'list');
    if (ref !== undefined) {
      const node = await this.deps.nodes.resolve(ref, visible);
      return { ids: [node.id], names: new Map([[node.id, node.name]]) };
    }
    const nodes = (await listNodes(this.deps.store.db, { includeRemoved: true })).filter((n) => visible(n.labels));
    return { ids: nodes.map((n) => n.id), names: new Map(nodes.map((n) => [n.id, n.name])) };
  }

  // -------------------------------------------------------------------------
  // Restores, drills and runs asked for

  /**
   * Checks a restore (scope, nodes, policy, connection) and starts it; the
   * returned promise settles with the node's answer. Errors before the start
   * are thrown at once, so the API can answer them with a status.
   */
  restore(principal: Principal, input: RestoreInput, ctx: RequestContext): Promise<{ outcome: Promise<RestoreOutcome> }> {
    return this.#limited(principal, () => this.#startRestore(principal, input, ctx));
  }

  async #startRestore(principal: Principal, input: RestoreInput, ctx: RequestContext): Promise<{ outcome: Promise<RestoreOutcome> }> {
    const may = await this.deps.access.nodeFilter(principal, 'backups', 'restore');
    const node = await this.#liveNode(input.node, may);
    const from = input.fromNode === undefined ? node : await this.#liveNode(input.fromNode, may, true);
    const policy = await this.#policyFor(node, input.policy);
    const session = this.#sessionOf(node);
    const resource = `/v1/nodes/${node.id}`;
    const details = { node: node.name, policy: policy.name, host: from.id, snapshot: input.snapshot, target: input.target, include: input.include.length };
    // Another node's snapshots are in its own repository, under its own key: this restore hands that key to this node (audited).
    const source = from.id === node.id ? undefined : await this.#nodeRepositoryOf(policy, from.id);
    await this.#audit(principal.actor, 'backups.restore', resource, ctx, 'success', { phase: 'started', ...details, ...(source ? { crossNode: true } : {}) });
    const timeoutMs = input.timeoutSeconds * 1000;
    const outcome = this.#ask(session, node, timeoutMs, {
      type: 'backup_restore',
      requestId: randomUUID(),
      policy: policy.name,
      host: from.id,
      ...(source ? { source } : {}),
      snapshot: input.snapshot,
      target: input.target,
      include: input.include,
      timeoutMs,
    })
      .then((answer) => {
        const result = answer as BackupRestoreResult;
        if (result.error) throw new BulwarkError(isErrorCode(result.error.code) ? result.error.code : 'INTERNAL', result.error.message);
        if (result.snapshotId === undefined) throw new BulwarkError('INTERNAL', `the agent of ${node.name} answered the restore without naming the snapshot`);
        const done: RestoreOutcome = {
          nodeId: node.id,
          nodeName: node.name,
          policy: policy.name,
          host: from.id,
          target: input.target,
          snapshotId: result.snapshotId,
          snapshotTime: result.snapshotTime ?? null,
          files: result.files,
          dirs: result.dirs,
          symlinks: result.symlinks,
          bytes: result.bytes,
          problems: result.problems,
          problemCount: result.problemCount,
          durationMs: result.durationMs,
        };
        return done;
      })
      .then(
        async (done) => {
          await this.#audit(principal.actor, 'backups.restore', resource, ctx, done.problemCount === 0 ? 'success' : 'failure', { phase: 'finished', ...details, snapshotId: done.snapshotId, files: done.files, bytes: done.bytes, problems: done.problemCount, durationMs: done.durationMs }).catch(
            (err: unknown) => this.deps.log.error({ err }, 'writing the audit entry of a restore failed'),
          );
          return done;
        },
        async (err: unknown) => {
          await this.#audit(principal.actor, 'backups.restore', resource, ctx, 'failure', { phase: 'finished', ...details, errorCode: isBulwarkError(err) ? err.code : 'INTERNAL' }).catch((e: unknown) =>
            this.deps.log.error({ err: e }, 'writing the audit entry of a restore failed'),
          );
          throw err;
        },
      );
    return { outcome };
  }

  /** Checks a drill and starts it; the promise settles with the recorded drill. */
  drill(principal: Principal, input: DrillInput, ctx: RequestContext): Promise<{ outcome: Promise<DrillView> }> {
    return this.#limited(principal, () => this.#startDrill(principal, input, ctx));
  }

  async #startDrill(principal: Principal, input: DrillInput, ctx: RequestContext): Promise<{ outcome: Promise<DrillView> }> {
    const may = await this.deps.access.nodeFilter(principal, 'backups', 'drill');
    const node = await this.#liveNode(input.node, may);
    const policy = await this.#policyFor(node, input.policy);
    const session = this.#sessionOf(node);
    const sample = input.sample ?? policy.drillSample;
    const requestId = randomUUID();
    await this.#audit(principal.actor, 'backups.drill', `/v1/nodes/${node.id}`, ctx, 'success', { node: node.name, policy: policy.name, sample });
    this.#drillRequesters.set(requestId, principal.actor);
    const timeoutMs = input.timeoutSeconds * 1000;
    const outcome = this.#ask(session, node, timeoutMs, { type: 'drill', requestId, policy: policy.name, sample, timeoutMs })
      .then(async (answer) => {
        const result = answer as DrillResultMessage;
        const stored = await getDrillByDrillId(this.deps.store.db, node.id, result.drillId);
        if (!stored) throw new BulwarkError('INTERNAL', `the drill on ${node.name} ended but could not be recorded; the server log has the detail`);
        return drillView(stored, node.name);
      })
      .finally(() => this.#drillRequesters.delete(requestId));
    return { outcome };
  }

  /** Runs a policy's backup now on its nodes in the caller's scope (or one of them); waits for the runs unless told not to. */
  runNow(principal: Principal, name: string, input: RunNowInput, ctx: RequestContext): Promise<{ outcome: Promise<RunNowOutcome> }> {
    return this.#limited(principal, () => this.#startRun(principal, name, input, ctx));
  }

  async #startRun(principal: Principal, name: string, input: RunNowInput, ctx: RequestContext): Promise<{ outcome: Promise<RunNowOutcome>; held: Promise<unknown> }> {
    const may = await this.deps.access.nodeFilter(principal, 'backups', 'run');
    const policy = await getPolicyByName(this.deps.store.db, name);
    const selector = policy && safeSelector(policy.selector);
    if (!policy || !selector) throw noPolicy(name);
    let targets: NodeRecord[];
    if (input.node !== undefined) {
      const node = await this.#liveNode(input.node, may);
      if (!matchesSelector(selector, node.labels)) throw new BulwarkError('BAD_REQUEST', `policy "${name}" does not cover node ${node.name} (its selector is ${policy.selector})`);
      targets = [node];
    } else {
      targets = (await listNodes(this.deps.store.db)).filter((n) => may(n.labels) && matchesSelector(selector, n.labels)).sort((a, b) => a.name.localeCompare(b.name));
      if (targets.length === 0) throw new BulwarkError('NODE_NOT_FOUND', `no node you may run backups on is covered by policy "${name}" (${policy.selector})`);
    }
    for (const node of targets) await this.#audit(principal.actor, 'backups.run', `/v1/nodes/${node.id}`, ctx, 'success', { node: node.name, policy: name });
    const timeoutMs = input.timeoutSeconds * 1000;
    const asks: Promise<unknown>[] = [];
    const perNode = targets.map(async (node): Promise<RunNowOutcome['nodes'][number]> => {
      const base = { nodeId: node.id, nodeName: node.name };
      const session = this.deps.session(node.id);
      if (!session) return { ...base, run: null, error: { code: 'NOT_CONNECTED', message: `the agent of ${node.name} is not connected to this server` } };
      const asked = this.#ask(session, node, timeoutMs, { type: 'backup_trigger', requestId: randomUUID(), policy: name });
      asks.push(asked);
      if (!input.wait) {
        asked.catch(() => undefined);
        return { ...base, run: null, error: null };
      }
      try {
        const answer = (await asked) as BackupRunMessage;
        const stored = await getRunByRunId(this.deps.store.db, node.id, answer.runId);
        if (!stored) return { ...base, run: null, error: { code: 'INTERNAL', message: 'the run ended but could not be recorded; the server log has the detail' } };
        return { ...base, run: runView(stored, node.name), error: null };
      } catch (err) {
        const e = isBulwarkError(err) ? err : new BulwarkError('INTERNAL', 'internal error; the server log has the detail');
        return { ...base, run: null, error: { code: e.code, message: e.message } };
      }
    });
    // Without waiting the answer comes at once, but the nodes are still at work: the caller's slot is held until they answer.
    return { outcome: Promise.all(perNode).then((nodes) => ({ policy: name, nodes })), held: Promise.allSettled(asks) };
  }

  /**
   * Holds one of the caller's slots for restores, drills and runs asked for
   * until the outcome (or what it started, `held`) settles: each holds a
   * node's agent (and for long timeouts, the server's request) for up to a day.
   */
  async #limited<T>(principal: Principal, start: () => Promise<{ outcome: Promise<T>; held?: Promise<unknown> }>): Promise<{ outcome: Promise<T> }> {
    const release = this.#perCaller.acquire(principal.actor);
    try {
      const { outcome, held } = await start();
      if (held === undefined) return { outcome: outcome.finally(release) };
      void held.finally(release);
      return { outcome };
    } catch (err) {
      release();
      throw err;
    }
  }

  /** Sends a request on a node's channel and waits for its answer, the channel's loss (DISCONNECTED) or the deadline (TIMEOUT). */
  #ask(session: AgentSession, node: NodeRecord, timeoutMs: number, request: Parameters<AgentSession['startBackupRequest']>[0]): Promise<Exclude<BackupAnswer, { type: 'closed' }>> {
    return new Promise((resolve, reject) => {
      let stop: () => void = () => undefined;
      let settled = false;
      const finish = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        stop();
        fn();
      };
      const timer = setTimeout(() => {
        finish(() => reject(new BulwarkError('TIMEOUT', `the agent of ${node.name} did not answer within ${Math.round((timeoutMs + ANSWER_GRACE_MS) / 1000)} s; it may still be working (see \`bulwark backup runs\` and \`bulwark drill ls\`)`)));
      }, timeoutMs + ANSWER_GRACE_MS);
      session
        .startBackupRequest(request, (answer) => {
          if (answer.type === 'closed') finish(() => reject(new BulwarkError('DISCONNECTED', `the agent of ${node.name} disconnected before it answered; the outcome on the node is unknown`)));
          else finish(() => resolve(answer));
        })
        .then((s) => {
          if (settled) s();
          else stop = s;
        })
        .catch((err: unknown) => finish(() => reject(err)));
    });
  }

  async #liveNode(ref: string, visible: (labels: Labels) => boolean, allowRemoved = false): Promise<NodeRecord> {
    const node = await this.deps.nodes.resolve(ref, visible);
    if (node.state === 'removed' && !allowRemoved) throw new BulwarkError('CONFLICT', `node ${node.name} was removed from the fleet`);
    return node;
  }

  #sessionOf(node: NodeRecord): AgentSession {
    const session = this.deps.session(node.id);
    if (!session) throw new BulwarkError('NOT_CONNECTED', `the agent of ${node.name} is not connected to this server; it must be online for this`);
    return session;
  }

  /** Where a node's repository of a policy is and its key, from this replica's snapshot of the policies. */
  async #nodeRepositoryOf(policy: BackupPolicyRecord, nodeId: string): Promise<{ repo: string; credential: RepoCredential }> {
    await this.#currentSnapshot();
    const cached = this.#items.get(policy.id);
    if (!cached || cached.key !== `${policy.version}:${policy.credentialVersion}`) {
      throw new BulwarkError('CONFLICT', `policy "${policy.name}" changed while the restore was being prepared; try again`);
    }
    return nodeRepository(cached.policy, nodeId);
  }

  /** The policy named, which must cover the node; without a name the only one covering it. */
  async #policyFor(node: NodeRecord, name: string | undefined): Promise<BackupPolicyRecord> {
    const covering = (await listPolicies(this.deps.store.db)).filter((p) => {
      const selector = safeSelector(p.selector);
      return selector !== undefined && matchesSelector(selector, node.labels);
    });
    if (name !== undefined) {
      const found = covering.find((p) => p.name === name);
      if (!found) throw new BulwarkError('NOT_FOUND', `no backup policy "${name}" covers node ${node.name}; list them with \`bulwark backup policy ls\``);
      return found;
    }
    if (covering.length === 0) throw new BulwarkError('NOT_FOUND', `no backup policy covers node ${node.name}`);
    if (covering.length > 1) throw new BulwarkError('AMBIGUOUS_NAME', `${covering.length} backup policies cover node ${node.name} (${covering.map((p) => p.name).join(', ')}); choose one with --policy`);
    return covering[0] as BackupPolicyRecord;
  }

  // -------------------------------------------------------------------------
  // Agent side (SessionBackups)

  async manifest(nodeId: string): Promise<{ hash: string; message: BackupPolicies } | undefined> {
    const snapshotPromise = this.#currentSnapshot();
    const nodePromise = this.#nodeOf(nodeId);
    const [snapshot, node] = await Promise.all([snapshotPromise, nodePromise]);
    if (node === null) return undefined;
    const cached = this.#manifests.get(nodeId);
    if (cached && cached.snapshot === snapshot && cached.node === node) return cached;
    // Snapshots carry the node id, not its name: names are chosen by the machines and need not be unique.
    const { message, dropped } = buildBackupManifest(nodeId, node.labels, snapshot.policies);
    if (dropped > 0 && !this.#overfull.has(nodeId)) {
      this.#overfull.add(nodeId);
      this.deps.log.warn({ nodeId, limit: BACKUP_LIMITS.maxPoliciesPerNode, dropped }, 'node matches more backup policies than it may hold; the newest are left out');
    }
    const entry: CachedManifest = { snapshot, node, hash: sha256Hex(canonicalJson(message)), message };
    if (this.#snapshot.current === snapshotPromise && this.#nodes.get(nodeId) === nodePromise) this.#manifests.set(nodeId, entry);
    return entry;
  }

  async delivered(nodeId: string, message: BackupPolicies): Promise<void> {
    await this.#audit(`node:${nodeId}`, 'backups.deliver', '/v1/backups/policies', { source: 'agent-channel', requestId: randomUUID() }, 'success', {
      policies: message.policies.map((p) => ({ name: p.name, version: p.version })),
    });
  }

  /**
   * A node reports only for policies it holds: the policy must be in what the
   * server delivers to it now. Anything else (a policy it never had, a forged
   * name) is dropped and logged.
   */
  async #deliveredPolicy(nodeId: string, name: string, what: string): Promise<BackupPolicyRecord | undefined> {
    const manifest = await this.manifest(nodeId);
    const policy = manifest?.message.policies.some((p) => p.name === name) ? await getPolicyByName(this.deps.store.db, name) : undefined;
    if (!policy) this.deps.log.warn({ nodeId, policy: name }, `${what} of a policy this node does not hold; dropped`);
    return policy ?? undefined;
  }

  /** A node's clock is not trusted past a little skew: a time in the future would hold its recovery point up for ever. */
  #clamp(time: number): number {
    return Math.min(time, this.deps.clock.now() + REPORT_CLOCK_SKEW_MS);
  }

  /** Records a run a node reported (once, however often it is sent), its effect on the node's recovery point, and `backup.failed`. */
  async onRun(nodeId: string, raw: BackupRunMessage): Promise<void> {
    const db = this.deps.store.db;
    const policy = await this.#deliveredPolicy(nodeId, raw.policy, 'backup run');
    if (!policy) return;
    const msg = { ...raw, startedAt: this.#clamp(raw.startedAt), finishedAt: this.#clamp(raw.finishedAt) };
    const record: BackupRunRecord = {
      id: newId('brun'),
      nodeId,
      policyId: policy.id,
      policyName: policy.name,
      runId: msg.runId,
      trigger: msg.trigger,
      state: msg.state,
      snapshotId: msg.snapshotId ?? null,
      startedAt: msg.startedAt,
      finishedAt: Math.max(msg.startedAt, msg.finishedAt),
      stats: msg.stats ?? null,
      forgotten: msg.forgotten ?? null,
      pruned: msg.pruned ?? null,
      errorCode: msg.error?.code ?? null,
      errorMessage: msg.error?.message ?? null,
      notes: msg.notes,
      receivedAt: this.deps.clock.now(),
    };
    if (!(await insertRun(db, record))) return;
    await trimRuns(db, nodeId, policy.id, BACKUP_LIMITS.historyKept);
    const previous = await getStatus(db, nodeId, policy.id);
    const next = statusAfterRun(previous, { nodeId, policyId: policy.id }, record);
    await putStatus(db, next);
    if (record.state === 'failed') {
      await this.deps.events.append('backup.failed', nodeId, { policy: policy.name, runId: record.id, trigger: record.trigger, errorCode: record.errorCode, error: record.errorMessage });
    }
    if (previous !== undefined && previous.missedAt !== null && next.missedAt === null) {
      await this.deps.events.append('backup.recovered', nodeId, { policy: policy.name, runId: record.id, snapshotId: record.snapshotId });
    }
  }

  async onDrill(nodeId: string, raw: DrillResultMessage): Promise<void> {
    const db = this.deps.store.db;
    const policy = await this.#deliveredPolicy(nodeId, raw.policy, 'drill');
    if (!policy) return;
    const msg = { ...raw, startedAt: this.#clamp(raw.startedAt), finishedAt: this.#clamp(raw.finishedAt), ...(raw.snapshotTime === undefined ? {} : { snapshotTime: this.#clamp(raw.snapshotTime) }) };
    const record: BackupDrillRecord = {
      id: newId('drl'),
      nodeId,
      policyId: policy.id,
      policyName: policy.name,
      drillId: msg.drillId,
      trigger: msg.trigger,
      state: msg.state,
      requestedBy: msg.requestId === undefined ? null : (this.#drillRequesters.get(msg.requestId) ?? null),
      startedAt: msg.startedAt,
      finishedAt: Math.max(msg.startedAt, msg.finishedAt),
      snapshotId: msg.snapshotId ?? null,
      snapshotTime: msg.snapshotTime ?? null,
      filesInSnapshot: msg.filesInSnapshot,
      filesSampled: msg.filesSampled,
      filesVerified: msg.filesVerified,
      filesFailed: msg.filesFailed,
      failures: msg.failures,
      sampleBytes: msg.sampleBytes,
      totalBytes: msg.totalBytes,
      restoreMs: msg.restoreMs,
      estimatedRtoMs: msg.estimatedRtoMs,
      rpoMs: msg.rpoMs,
      errorCode: msg.error?.code ?? null,
      errorMessage: msg.error?.message ?? null,
      receivedAt: this.deps.clock.now(),
    };
    if (!(await insertDrill(db, record))) return;
    await trimDrills(db, nodeId, policy.id, BACKUP_LIMITS.historyKept);
    const details = {
      policy: policy.name,
      drillId: record.id,
      trigger: record.trigger,
      snapshotId: record.snapshotId,
      filesSampled: record.filesSampled,
      filesFailed: record.filesFailed,
      restoreMs: record.restoreMs,
      estimatedRtoMs: record.estimatedRtoMs,
      rpoMs: record.rpoMs,
    };
    if (record.state === 'succeeded') await this.deps.events.append('drill.completed', nodeId, details);
    else await this.deps.events.append('drill.failed', nodeId, { ...details, errorCode: record.errorCode, error: record.errorMessage, failures: record.failures.slice(0, 20).map((f) => f.path) });
  }

  forget(nodeId: string): void {
    this.#nodes.delete(nodeId);
    this.#manifests.delete(nodeId);
    this.#overfull.delete(nodeId);
  }

  // -------------------------------------------------------------------------
  // Sweep and caches

  /** Raises `backup.missed` once for each node and policy whose last good backup is older than the policy's max-age. */
  async sweep(): Promise<number> {
    const db = this.deps.store.db;
    const now = this.deps.clock.now();
    const policies = await listPolicies(db);
    if (policies.length === 0) return 0;
    const nodes = await listNodes(db);
    const statuses = new Map((await listStatus(db)).map((s) => [`${s.nodeId}\0${s.policyId}`, s]));
    const covered: (CoveredNode & { node: NodeRecord; policy: BackupPolicyRecord })[] = [];
    for (const policy of policies) {
      const selector = safeSelector(policy.selector);
      if (!selector) continue;
      for (const node of nodes) {
        if (!matchesSelector(selector, node.labels)) continue;
        covered.push({ nodeId: node.id, policyId: policy.id, since: Math.max(policy.createdAt, node.joinedAt), maxAgeMs: policy.maxAgeMs, status: statuses.get(`${node.id}\0${policy.id}`), node, policy });
      }
    }
    let raised = 0;
    for (const due of missedNow(covered, now) as typeof covered) {
      const lastGoodAt = due.status?.lastGoodAt ?? null;
      if (!(await markMissed(db, due.nodeId, due.policyId, lastGoodAt, now))) continue;
      raised += 1;
      await this.deps.events.append('backup.missed', due.nodeId, {
        policy: due.policy.name,
        lastGoodAt,
        ageMs: lastGoodAt === null ? null : now - lastGoodAt,
        maxAgeMs: due.policy.maxAgeMs,
        lastRunState: due.status?.lastRunState ?? null,
        lastErrorCode: due.status?.lastErrorCode ?? null,
      });
    }
    return raised;
  }

  /** Rebuilds the policy snapshot (kept when unchanged, so manifests stay cached) and re-reads cached nodes in batches. */
  async refresh(): Promise<void> {
    try {
      const before = await this.#snapshot.current?.catch(() => undefined);
      const building = this.#buildSnapshot();
      const fresh = await building;
      if (!before || before.hash !== fresh.hash) this.#snapshot.set(building);
      const ids = [...this.#nodes.keys()];
      for (let i = 0; i < ids.length; i += NODES_CHUNK) {
        const chunk = ids.slice(i, i + NODES_CHUNK);
        const rows = await this.deps.store.db.selectFrom('nodes').select(['id', 'name', 'labels', 'state']).where('id', 'in', chunk).execute();
        const byId = new Map(rows.map((r) => [r.id, r]));
        for (const id of chunk) {
          const cached = this.#nodes.get(id);
          if (!cached) continue;
          const was = await cached.catch(() => undefined);
          const row = byId.get(id);
          const now = row && row.state !== 'removed' ? { name: row.name, labels: JSON.parse(row.labels) as Labels } : null;
          if (was === undefined || canonicalJson(was) !== canonicalJson(now)) this.forget(id);
        }
      }
    } catch (err) {
      this.deps.log.error({ err }, 'refreshing the backup policy caches failed');
    }
  }

  #currentSnapshot(): Promise<Snapshot> {
    return this.#snapshot.get(() => this.#buildSnapshot());
  }

  /**
   * Every policy as nodes receive it; a credential is decrypted once per
   * version of its policy. Fails whole: a partial list would stop policies on
   * the nodes. Roots are never wiped here: a snapshot built before may still
   * be deriving node keys from one (they go with the last reference).
   */
  async #buildSnapshot(): Promise<Snapshot> {
    const records = await listPolicies(this.deps.store.db);
    const policies: ManifestPolicy[] = [];
    const versions: unknown[] = [];
    for (const record of records) {
      const selector = safeSelector(record.selector);
      if (!selector) continue;
      const key = `${record.version}:${record.credentialVersion}`;
      let cached = this.#items.get(record.id);
      if (!cached || cached.key !== key) {
        const secret = await this.#decryptSecret(record);
        cached = { key, policy: { base: policyBase(record, secret.s3), root: await this.#rootOf(record, secret) } };
        this.#items.set(record.id, cached);
      }
      policies.push({ selector, ...cached.policy });
      versions.push([selector.source, cached.policy.base, key]);
    }
    const ids = new Set(records.map((r) => r.id));
    for (const id of this.#items.keys()) if (!ids.has(id)) this.#items.delete(id);
    return { policies, hash: sha256Hex(canonicalJson(versions)) };
  }

  /** The stored root of a policy's node keys; derived (and warned about) for a policy stored before node keys. */
  async #rootOf(record: BackupPolicyRecord, secret: PolicySecret): Promise<Buffer> {
    if (secret.root !== undefined) return Buffer.from(secret.root, 'base64');
    if (!this.#legacyWarned.has(record.id)) {
      this.#legacyWarned.add(record.id);
      this.deps.log.warn(
        { policy: record.name },
        'backup policy was stored before per-node keys: its nodes were sent its credential itself, so any of them can derive the others\' keys; give it a new credential (bulwark backup policy set … --password-file/--key-file)',
      );
    }
    return policyRoot(secret.credential, record.name);
  }

  #nodeOf(nodeId: string): Promise<CachedNode | null> {
    let node = this.#nodes.get(nodeId);
    if (!node) {
      const loading = getNode(this.deps.store.db, nodeId).then((n) => (n && n.state !== 'removed' ? { name: n.name, labels: n.labels } : null));
      node = loading;
      this.#nodes.set(nodeId, loading);
      loading.catch(() => {
        if (this.#nodes.get(nodeId) === loading) this.#nodes.delete(nodeId);
      });
    }
    return node;
  }

  async #decryptSecret(record: BackupPolicyRecord): Promise<PolicySecret> {
    const plain = await this.deps.cipher.decrypt(record.credential, { table: 'backup_policies', id: record.id, version: record.credentialVersion });
    try {
      return decodePolicySecret(plain);
    } finally {
      plain.fill(0);
    }
  }

  // -------------------------------------------------------------------------
  // Access

  /**
   * A policy follows its selector to whatever node matches, now or after a
   * label change, and its credential opens the repository of every one of
   * them: changing one needs the verb granted for every node (a rule
   * without a `nodes` selector), and no deny rule narrowing it to some nodes.
   */
  async #assertUnscoped(principal: Principal, verb: 'write' | 'delete', what: string): Promise<void> {
    const roles = await this.deps.access.resolve(principal.roles);
    const request = { resource: 'backups', verb };
    if (!authorize(roles, request).allowed) {
      throw new BulwarkError('FORBIDDEN', `to ${what} you need backups: ${verb} on every node (a rule without a nodes selector): a policy follows its selector to any node`);
    }
    const denying = firstNodeScopedDeny(roles, request);
    if (denying) {
      throw new BulwarkError('FORBIDDEN', `to ${what} no deny rule may narrow backups: ${verb} to some nodes, but role ${denying.role} has ${denying.rule}: a policy follows its selector to any node, so it cannot keep out of those`);
    }
  }

  /** Which policies the caller may see with `verb`: every one when granted on every node, else those covering a node in its scope. */
  async #visiblePolicies(principal: Principal, verb: 'list' | 'read'): Promise<(policy: BackupPolicyRecord) => boolean> {
    if ((await this.deps.access.decide(principal, { resource: 'backups', verb })).allowed) return () => true;
    const visible = await this.deps.access.nodeFilter(principal, 'backups', verb);
    const labels = (await listNodes(this.deps.store.db)).map((n) => n.labels).filter(visible);
    return (policy) => {
      const selector = safeSelector(policy.selector);
      return selector !== undefined && labels.some((l) => matchesSelector(selector, l));
    };
  }

  async #audit(actor: string, action: string, resource: string, ctx: RequestContext, outcome: 'success' | 'failure', details: Record<string, unknown>): Promise<void> {
    await this.deps.audit.append({ actor, action, resource, decision: 'allow', source: ctx.source, requestId: ctx.requestId, outcome, details });
  }
}

function firstNodeScopedDeny(roles: readonly Role[], request: { resource: string; verb: string }): { role: string; rule: string } | undefined {
  for (const role of roles) {
    for (const rule of role.deny) {
      if (rule.nodes === undefined) continue;
      const { nodes: _selector, ...everywhere } = rule;
      if (authorize([{ name: role.name, allow: [], deny: [everywhere] }], request).reason.kind === 'deny') return { role: role.name, rule: describeRule(rule) };
    }
  }
  return undefined;
}

/** The root of a policy's node keys, from its credential and name (src/backup/fleet-keys.ts). */
async function policyRoot(repoCredential: RepoCredential, policyName: string): Promise<Buffer> {
  const credential: Credential = repoCredential.kind === 'password' ? { kind: 'password', password: repoCredential.password } : { kind: 'key-file', bytes: Buffer.from(repoCredential.keyFile, 'base64') };
  try {
    return await fleetRootKey(credential, policyName);
  } finally {
    if (credential.kind === 'key-file') credential.bytes.fill(0);
  }
}

function checkCredential(credential: NonNullable<PolicyInput['credential']>): void {
  if (credential.kind === 'password') checkNewCredential({ kind: 'password', password: credential.password });
  else {
    const bytes = Buffer.from(credential.keyFile, 'base64');
    try {
      if (bytes.length > BACKUP_LIMITS.maxKeyFileBytes) throw new BulwarkError('BAD_REQUEST', `a key file is at most ${BACKUP_LIMITS.maxKeyFileBytes} bytes`);
      checkNewCredential({ kind: 'key-file', bytes });
    } finally {
      bytes.fill(0);
    }
  }
}

function noPolicy(name: string): BulwarkError {
  return new BulwarkError('NOT_FOUND', `no backup policy "${name}"; list them with \`bulwark backup policy ls\``);
}

/** A stored selector that no longer parses matches no node (fail closed). */
function safeSelector(text: string): Selector | undefined {
  try {
    return parseSelector(text);
  } catch {
    return undefined;
  }
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export function policyView(p: BackupPolicyRecord): PolicyView {
  return {
    name: p.name,
    selector: p.selector,
    paths: p.paths,
    excludes: p.excludes,
    tags: p.tags,
    schedule: p.schedule,
    repo: p.repo,
    s3Endpoint: p.s3Endpoint,
    credential: { kind: p.credentialKind, s3Keys: p.s3Keys },
    retention: p.retention,
    prune: p.prune,
    drillSchedule: p.drillSchedule,
    drillSample: p.drillSample,
    maxAgeSeconds: Math.round(p.maxAgeMs / 1000),
    maxAgeDefault: p.maxAgeDefault,
    version: p.version,
    createdBy: p.createdBy,
    createdAt: p.createdAt,
    updatedBy: p.updatedBy,
    updatedAt: p.updatedAt,
  };
}

function runView(r: BackupRunRecord, nodeName: string): RunView {
  return {
    id: r.id,
    nodeId: r.nodeId,
    nodeName,
    policy: r.policyName,
    trigger: r.trigger,
    state: r.state,
    snapshotId: r.snapshotId,
    startedAt: r.startedAt,
    finishedAt: r.finishedAt,
    stats: r.stats,
    forgotten: r.forgotten,
    pruned: r.pruned,
    error: r.errorCode === null ? null : { code: r.errorCode, message: r.errorMessage ?? '' },
    notes: r.notes,
  };
}

function drillView(d: BackupDrillRecord, nodeName: string): DrillView {
  return {
    id: d.id,
    nodeId: d.nodeId,
    nodeName,
    policy: d.policyName,
    trigger: d.trigger,
    state: d.state,
    requestedBy: d.requestedBy,
    startedAt: d.startedAt,
    finishedAt: d.finishedAt,
    snapshotId: d.snapshotId,
    snapshotTime: d.snapshotTime,
    filesInSnapshot: d.filesInSnapshot,
    filesSampled: d.filesSampled,
    filesVerified: d.filesVerified,
    filesFailed: d.filesFailed,
    failures: d.failures,
    sampleBytes: d.sampleBytes,
    totalBytes: d.totalBytes,
    restoreMs: d.restoreMs,
    estimatedRtoMs: d.estimatedRtoMs,
    rpoMs: d.rpoMs,
    error: d.errorCode === null ? null : { code: d.errorCode, message: d.errorMessage ?? '' },
  };
}
