import { randomUUID } from 'node:crypto';
import { Cron } from 'croner';
import type { Clock } from '../core/clock.js';
import { BulwarkError } from '../core/errors.js';
import { matchesSelector, parseSelector } from '../core/labels.js';
import type { Logger } from '../core/logger.js';
import { everyWithoutOverlap } from '../core/periodic.js';
import { clampFinding } from '../checks/clamp.js';
import { computeDrift, isWorse } from '../checks/drift.js';
import { summarize, type Finding, type FleetReport, type NodeAuditResult } from '../checks/model.js';
import { BUILTIN_PACK_IDS } from '../checks/packs/index.js';
import { parsePolicy } from '../checks/policy/index.js';
import { parseTarget } from '../checks/tls/index.js';
import { advisoryPackageKeys, matchVulnerabilities, parseAdvisoryFile, type Advisory } from '../checks/vuln/index.js';
import { AUDIT_LIMITS, type AuditPolicyRef, type AuditResultMessage, type AuditSpec, type Drift, type Inventory } from '../protocol/checks.js';
import type { Store } from '../store/open.js';
import { advisoriesForPackages, advisoryStats, upsertAdvisories } from '../store/advisories.js';
import { deletePolicy, getPolicies, listPolicies, upsertPolicy, type StoredPolicy } from '../store/audit-policies.js';
import { claimSchedule, deleteSchedule, dueSchedules, getScheduleByName, listSchedules, setScheduleLastRun, upsertSchedule, type AuditScheduleRecord } from '../store/audit-schedules.js';
import {
  completeResult,
  failResult,
  getResultByRequest,
  getRun,
  insertRun,
  latestResultOf,
  latestResults,
  listFindings,
  listNodeResults,
  markDispatched,
  markUndelivered,
  overdueRuns,
  pendingResults,
  pruneFindings,
  runningRuns,
  type AuditRunRecord,
  type NodeResultRecord,
} from '../store/audits.js';
import type { AccessService, Principal } from './access-service.js';
import type { AgentSession } from './agent-session.js';
import type { Auditor } from './api/guard.js';
import type { EventLog } from './event-log.js';
import type { NodeService } from './node-service.js';

const RUN_CHANNEL = 'bulwark_audit_run';
/** Past a node's timeout, how long the server still waits for its answer before failing it. */
const ANSWER_GRACE_MS = 30_000;
/** Findings of this many results per node are kept; older results keep their scores only. */
export const FINDINGS_KEPT_PER_NODE = 30;
const TICK_MS = 5_000;
/** Drift event details name at most this many keys per kind; the full lists are on the result. */
const DRIFT_SAMPLE = 20;
/** Keys kept per drift list on a result (the counts in the event are exact). */
const DRIFT_KEPT = 1000;
/**
 * Range comparisons one node's inventory may cost. A real host needs some
 * thousands to a few hundred thousand; an inventory that would need more is a
 * node lying about its packages, not a reason to stall the server.
 */
export const MATCH_BUDGET = 1_000_000;
/** Results (with their errors and drift) kept per node; older ones are dropped. */
export const RESULTS_KEPT_PER_NODE = 1000;
/** Custom policy text one audit request may carry, within the agent message limit. */
const POLICY_TEXT_BUDGET = 6 * 1024 * 1024;

export interface AuditServiceDeps {
  store: Store;
  clock: Clock;
  log: Logger;
  events: EventLog;
  access: AccessService;
  nodes: NodeService;
  audit: Auditor;
  /** The node's live channel on this replica, if any. */
  session: (nodeId: string) => AgentSession | undefined;
  tickMs?: number;
}

export interface StartRunInput {
  actor: string;
  /** The caller, whose `audits: run` scope limits the targets; absent for a schedule. */
  principal?: Principal;
  selector: string;
  spec: AuditSpec;
  timeoutSeconds: number;
  trigger: 'manual' | 'schedule';
  scheduleId?: string;
}

/**
 * Runs audits across the fleet. A run is recorded first (one pending result per
 * target node), then announced to every replica, and each replica sends the
 * request to the targets connected to it, so a run reaches the whole fleet
 * whichever replica took it. Answers are stored by whichever replica receives
 * them; the last one closes the run. A sweep fails what never answered, and
 * fires due schedules (a compare-and-set on the schedule's next time makes
 * exactly one replica fire each).
 */
export class AuditService {
  readonly #unsubscribe: () => void;
  #timer: NodeJS.Timeout | undefined;
  #importing = false;

  constructor(private readonly deps: AuditServiceDeps) {
    this.#unsubscribe = deps.store.notifier.subscribe(RUN_CHANNEL, (runId) => {
      void this.dispatch(runId).catch((err: unknown) => deps.log.error({ err, runId }, 'audit dispatch failed'));
    });
  }

  start(): void {
    this.#timer = everyWithoutOverlap(this.deps.tickMs ?? TICK_MS, () => this.tick(), (err) => this.deps.log.error({ err }, 'audit sweep failed'));
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#unsubscribe();
  }

  /** Checks a spec against what exists: policy ids, TLS targets. Throws a 4xx error naming the problem. */
  async validateSpec(spec: AuditSpec): Promise<void> {
    for (const target of spec.tlsTargets) parseTarget(target);
    const custom = spec.policies.filter((id) => !BUILTIN_PACK_IDS.includes(id));
    const policies = await getPolicies(this.deps.store.db, custom);
    const found = new Set(policies.map((p) => p.id));
    const missing = custom.filter((id) => !found.has(id));
    if (missing.length > 0) {
      throw new BulwarkError('NOT_FOUND', `no policy "${missing[0]}": built-in packs are ${BUILTIN_PACK_IDS.join(', ')}; list custom ones with \`bulwark policy ls\``);
    }
    const bytes = policies.reduce((sum, p) => sum + Buffer.byteLength(p.text), 0);
    if (bytes > POLICY_TEXT_BUDGET) {
      throw new BulwarkError('BAD_REQUEST', `the custom policies of one audit may hold at most ${POLICY_TEXT_BUDGET / 2 ** 20} MiB of YAML together (these hold ${(bytes / 2 ** 20).toFixed(1)} MiB); split them over several runs`);
    }
  }

  async startRun(input: StartRunInput): Promise<{ run: AuditRunRecord; nodes: { id: string; name: string }[] }> {
    parseSelector(input.selector);
    await this.validateSpec(input.spec);
    const may = input.principal ? await this.deps.access.nodeFilter(input.principal, 'audits', 'run') : () => true;
    const targets = (await this.deps.nodes.list({ selector: input.selector }))
      .filter((n) => n.state !== 'removed' && may(n.labels))
      .sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
    if (targets.length === 0 && input.trigger === 'manual') {
      throw new BulwarkError('NODE_NOT_FOUND', `no node you may audit matches "${input.selector}"; list nodes with \`bulwark nodes ls --selector '${input.selector}'\``);
    }
    const now = this.deps.clock.now();
    const id = randomUUID();
    const nodes = targets.map((n) => ({ id: n.id, name: n.name, requestId: randomUUID() }));
    await insertRun(this.deps.store.db, {
      id,
      trigger: input.trigger,
      scheduleId: input.scheduleId ?? null,
      requestedBy: input.actor,
      selector: input.selector,
      spec: input.spec,
      createdAt: now,
      deadlineAt: now + input.timeoutSeconds * 1000 + ANSWER_GRACE_MS,
      nodes,
    });
    await this.deps.events.append('audit.run_started', null, { runId: id, trigger: input.trigger, nodes: nodes.length, policies: input.spec.policies });
    // Offline nodes cannot answer: fail them now rather than at the deadline
    // (unless connected here after all: membership may lag a reconnect).
    for (const target of targets) {
      if (target.state === 'offline' && !this.deps.session(target.id)) {
        const node = nodes.find((n) => n.id === target.id);
        if (node) await this.#fail(node.requestId, { code: 'NOT_CONNECTED', message: `${target.name} is offline` });
      }
    }
    await this.deps.store.notifier.publish(RUN_CHANNEL, id);
    const run = await getRun(this.deps.store.db, id);
    if (!run) throw new BulwarkError('INTERNAL', 'the audit run vanished after it was recorded');
    return { run, nodes: nodes.map(({ id: nodeId, name }) => ({ id: nodeId, name })) };
  }

  /** Sends a run's requests to the targets whose agents are connected to this replica and have not had it yet. */
  async dispatch(runId: string): Promise<void> {
    const run = await getRun(this.deps.store.db, runId);
    if (!run || run.status !== 'running') return;
    const pending = await pendingResults(this.deps.store.db, runId, { undelivered: true });
    if (pending.length === 0) return;
    let policies: AuditPolicyRef[] | undefined;
    for (const result of pending) {
      const session = this.deps.session(result.nodeId);
      if (!isOpen(session)) continue;
      policies ??= await this.#policyRefs(run.spec);
      const timeoutMs = Math.max(1000, run.deadlineAt - ANSWER_GRACE_MS - this.deps.clock.now());
      await markDispatched(this.deps.store.db, result.requestId, this.deps.clock.now());
      // The channel was open before the awaits above, and may have closed during them: its close then
      // found nothing sent to forget, and the request, recorded as sent, would wait for its deadline.
      // Forgotten here instead, the sweep offers it again when the agent is back.
      if (!isOpen(session)) {
        await markUndelivered(this.deps.store.db, { requestId: result.requestId });
        continue;
      }
      session.sendAudit({
        type: 'audit',
        requestId: result.requestId,
        timeoutMs,
        scope: { policies, inventory: run.spec.vulnerabilities, tlsListeners: run.spec.tlsListeners, tlsTargets: run.spec.tlsTargets },
      });
    }
  }

  async #policyRefs(spec: AuditSpec): Promise<AuditPolicyRef[]> {
    const custom = new Map((await getPolicies(this.deps.store.db, spec.policies.filter((id) => !BUILTIN_PACK_IDS.includes(id)))).map((p) => [p.id, p]));
    const refs: AuditPolicyRef[] = [];
    for (const id of spec.policies) {
      if (BUILTIN_PACK_IDS.includes(id)) refs.push({ builtin: id });
      else {
        const policy = custom.get(id);
        // Deleted since the run started: the node result will say the policy is missing.
        if (policy) refs.push({ id, text: policy.text });
      }
    }
    return refs;
  }

  /** The node's channel to this replica closed: what was sent on it may be lost. */
  async agentDisconnected(nodeId: string): Promise<void> {
    await markUndelivered(this.deps.store.db, { nodeId });
  }

  /** An agent's answer. Only the node a request was sent to may answer it, and only once. */
  async onResult(nodeId: string, msg: AuditResultMessage): Promise<void> {
    const pending = await getResultByRequest(this.deps.store.db, msg.requestId);
    if (!pending || pending.nodeId !== nodeId || pending.status !== 'pending') {
      this.deps.log.warn({ nodeId, requestId: msg.requestId }, 'audit result for no pending request of this node; dropped');
      return;
    }
    if (msg.failure) {
      await this.#fail(msg.requestId, msg.failure);
      return;
    }
    const findings: Finding[] = [...(msg.findings as Finding[])];
    const errors = [...msg.errors];
    if (msg.inventory) {
      try {
        const room = AUDIT_LIMITS.findings - findings.length;
        const { found, problem } = await this.#vulnerabilities(msg.inventory, room);
        findings.push(...found);
        if (problem) errors.push({ source: 'vulnerabilities', message: problem });
      } catch (err) {
        this.deps.log.error({ err, nodeId }, 'vulnerability matching failed');
        errors.push({ source: 'vulnerabilities', message: 'vulnerability matching failed on the server; see its log' });
      }
    }
    const previous = await latestResultOf(this.deps.store.db, nodeId);
    const full = previous ? computeDrift(previous.findings, findings) : undefined;
    const drift: Drift | null =
      previous && full
        ? {
            regressed: full.regressed.slice(0, DRIFT_KEPT),
            newVulnerabilities: full.newVulnerabilities.slice(0, DRIFT_KEPT),
            newTls: full.newTls.slice(0, DRIFT_KEPT),
            resolved: full.resolved.slice(0, DRIFT_KEPT),
            previousRunId: previous.runId,
          }
        : null;
    // The node's clock decides nothing: times are the server's, the start bounded by the dispatch.
    const now = this.deps.clock.now();
    const earliest = pending.dispatchedAt ?? now;
    const startedAt = Math.min(now, Math.max(earliest, Number.isSafeInteger(msg.startedAt) ? msg.startedAt : earliest));
    const stored = await completeResult(
      this.deps.store.db,
      { requestId: msg.requestId, startedAt, finishedAt: now, summary: summarize(findings), errors, findings, drift },
      now,
    );
    if (!stored) return;
    if (full && drift && isWorse(full)) {
      await this.deps.events.append('audit.drift', nodeId, {
        runId: stored.result.runId,
        previousRunId: drift.previousRunId,
        regressed: full.regressed.length,
        newVulnerabilities: full.newVulnerabilities.length,
        newTls: full.newTls.length,
        sample: [...drift.regressed, ...drift.newVulnerabilities, ...drift.newTls].slice(0, DRIFT_SAMPLE),
      });
    }
    await pruneFindings(this.deps.store.db, nodeId, FINDINGS_KEPT_PER_NODE, RESULTS_KEPT_PER_NODE);
    if (stored.runDone) await this.#runDone(stored.result.runId);
  }

  /**
   * Matches an inventory against the advisory data set, within a budget: the
   * inventory comes from the node, and a lying one (thousands of packages
   * claiming the kernel's source) must cost a refusal, not the server's memory.
   */
  async #vulnerabilities(inventory: Inventory, room: number): Promise<{ found: Finding[]; problem?: string }> {
    // dpkg holds one stanza per installed package name; a repeated name is not a second package.
    const packages = [...new Map(inventory.packages.map((p) => [p.name, p])).values()];
    const index = await advisoriesForPackages<Advisory>(this.deps.store.db, packages.flatMap((p) => [p.name, p.source]));
    let work = 0;
    for (const p of packages) work += (index.get(p.name)?.length ?? 0) + (p.source === p.name ? 0 : (index.get(p.source)?.length ?? 0));
    if (work > MATCH_BUDGET) {
      return { found: [], problem: `the inventory (${packages.length} packages) would take ${work} advisory comparisons, over the budget of ${MATCH_BUDGET}; packages were not matched` };
    }
    const found = matchVulnerabilities({ packages, ...(inventory.release ? { release: inventory.release } : {}), advisories: (name) => index.get(name) ?? [] });
    if (found.length > room) {
      return { found: found.slice(0, Math.max(0, room)).map(clampFinding), problem: `${found.length} vulnerabilities matched; only the first ${Math.max(0, room)} are kept` };
    }
    return { found: found.map(clampFinding) };
  }

  async #fail(requestId: string, failure: { code: string; message: string }): Promise<NodeResultRecord | undefined> {
    const failed = await failResult(this.deps.store.db, requestId, failure, this.deps.clock.now());
    if (failed?.runDone) await this.#runDone(failed.result.runId);
    return failed?.result;
  }

  async #runDone(runId: string): Promise<void> {
    const run = await getRun(this.deps.store.db, runId);
    await this.deps.events.append('audit.run_completed', null, { runId, trigger: run?.trigger ?? 'manual', nodes: run?.nodeCount ?? 0 });
  }

  /** One sweep: fail overdue results, re-offer runs to agents that connected since, fire due schedules. */
  async tick(): Promise<void> {
    const now = this.deps.clock.now();
    for (const run of await overdueRuns(this.deps.store.db, now)) {
      for (const result of await pendingResults(this.deps.store.db, run.id)) {
        await this.#fail(
          result.requestId,
          result.dispatchedAt === null
            ? { code: 'NOT_CONNECTED', message: `the agent of ${result.nodeName} was not connected while the run lasted` }
            : { code: 'TIMEOUT', message: `the agent of ${result.nodeName} did not answer before the deadline` },
        );
      }
    }
    for (const run of await runningRuns(this.deps.store.db)) await this.dispatch(run.id);
    for (const schedule of await dueSchedules(this.deps.store.db, now)) await this.#fire(schedule, now);
  }

  async #fire(schedule: AuditScheduleRecord, now: number): Promise<void> {
    const next = nextRunAt(schedule.cron, now);
    if (!(await claimSchedule(this.deps.store.db, schedule.id, schedule.nextRunAt, next, now))) return;
    const actor = `schedule:${schedule.name}`;
    try {
      const { run } = await this.startRun({ actor, selector: schedule.selector, spec: schedule.spec, timeoutSeconds: 600, trigger: 'schedule', scheduleId: schedule.id });
      await setScheduleLastRun(this.deps.store.db, schedule.id, run.id);
      await this.deps.audit.append({
        actor,
        action: 'audits.run',
        resource: `/v1/audits/schedules/${schedule.name}`,
        decision: 'allow',
        source: 'scheduler',
        requestId: run.id,
        outcome: 'success',
        details: { runId: run.id, nodes: run.nodeCount, selector: schedule.selector },
      });
    } catch (err) {
      this.deps.log.error({ err, schedule: schedule.name }, 'scheduled audit could not start');
      await this.deps.events.append('audit.schedule_failed', null, { schedule: schedule.name, errorCode: err instanceof BulwarkError ? err.code : 'INTERNAL' });
    }
  }

  /**
   * A report over the latest result of each of `nodeIds` (the caller's scope), or
   * over one run's results within it. Failed nodes are left out: they have no
   * findings to report, and the run detail names them.
   */
  async fleetReport(input: { title: string; nodeIds: readonly string[]; labels: ReadonlyMap<string, Record<string, string>>; runId?: string }): Promise<FleetReport> {
    const allowed = new Set(input.nodeIds);
    const results = (input.runId === undefined ? await latestResults(this.deps.store.db, input.nodeIds) : await listNodeResults(this.deps.store.db, input.runId)).filter(
      (r) => allowed.has(r.nodeId) && r.status === 'done' && r.summary !== null,
    );
    const nodes: NodeAuditResult[] = [];
    for (const r of results) {
      const findings = await listFindings(this.deps.store.db, { runId: r.runId, nodeIds: [r.nodeId], limit: 100_000 });
      nodes.push({
        nodeId: r.nodeId,
        nodeName: r.nodeName,
        labels: input.labels.get(r.nodeId) ?? {},
        runId: r.runId,
        startedAt: r.startedAt ?? 0,
        finishedAt: r.finishedAt ?? 0,
        summary: r.summary ?? summarize([]),
        findings: findings.map(({ runId: _run, nodeId: _node, ...f }) => f),
        errors: r.errors,
      });
    }
    return { title: input.title, generatedAt: this.deps.clock.now(), nodes };
  }

  // Schedules

  /**
   * A schedule runs as the system, on whatever nodes its selector matches when it
   * fires. So that it cannot reach beyond its author's scope, the author must be
   * allowed to schedule audits on every node the selector matches now; a scoped
   * author writes a selector within their scope.
   */
  async setSchedule(input: { name: string; cron: string; selector: string; spec: AuditSpec; enabled: boolean; actor: string; principal?: Principal }): Promise<AuditScheduleRecord> {
    parseSelector(input.selector);
    await this.validateSpec(input.spec);
    if (input.principal) {
      if (!(await this.covers(input.principal, 'schedule', input.selector))) {
        throw new BulwarkError('FORBIDDEN', `the selector "${input.selector}" matches nodes you may not schedule audits on; narrow it to your scope (e.g. add your label, env=dev)`);
      }
      // Replacing a schedule takes the right to the one replaced, too.
      const existing = await getScheduleByName(this.deps.store.db, input.name);
      if (existing && !(await this.covers(input.principal, 'schedule', existing.selector))) {
        throw new BulwarkError('FORBIDDEN', `the schedule "${input.name}" covers nodes you may not schedule audits on; choose another name`);
      }
    }
    const now = this.deps.clock.now();
    return upsertSchedule(this.deps.store.db, { id: randomUUID(), name: input.name, cron: input.cron, selector: input.selector, spec: input.spec, enabled: input.enabled, createdBy: input.actor, nextRunAt: nextRunAt(input.cron, now) }, now);
  }

  /**
   * Whether the caller may `verb` audits on every node a selector matches now
   * (removed nodes aside): the test for touching a schedule, which runs as the
   * system on whatever its selector matches.
   */
  async covers(principal: Principal, verb: string, selector: string): Promise<boolean> {
    const may = await this.deps.access.nodeFilter(principal, 'audits', verb);
    return !(await this.deps.nodes.list({ selector })).some((n) => n.state !== 'removed' && !may(n.labels));
  }

  /** The schedules whose nodes the caller may all see. */
  async listSchedules(principal: Principal): Promise<AuditScheduleRecord[]> {
    const all = await listSchedules(this.deps.store.db);
    const may = await this.deps.access.nodeFilter(principal, 'audits', 'list');
    const nodes = await this.deps.nodes.list({});
    const visible = (selector: string): boolean => {
      const parsed = parseSelector(selector);
      return !nodes.some((n) => n.state !== 'removed' && matchesSelector(parsed, n.labels) && !may(n.labels));
    };
    return all.filter((s) => visible(s.selector));
  }

  async deleteSchedule(name: string, principal: Principal): Promise<void> {
    const existing = await getScheduleByName(this.deps.store.db, name);
    // A schedule beyond the caller's scope answers like one that does not exist.
    if (!existing || !(await this.covers(principal, 'schedule', existing.selector)) || !(await deleteSchedule(this.deps.store.db, name))) {
      throw new BulwarkError('NOT_FOUND', `no schedule "${name}"; list them with \`bulwark audit schedule ls\``);
    }
  }

  // Policies

  /** Parses (refusing a malformed policy with file, line and reason) and stores a custom policy. */
  async addPolicy(text: string, fileName: string, actor: string): Promise<{ policy: StoredPolicy; created: boolean }> {
    const policy = parsePolicy(text, fileName);
    if (BUILTIN_PACK_IDS.includes(policy.id)) {
      throw new BulwarkError('CONFLICT', `"${policy.id}" is a built-in pack; give your policy another id`);
    }
    const now = this.deps.clock.now();
    const record = { id: policy.id, name: policy.name, format: policy.format, text, checkCount: policy.checks.length, createdBy: actor };
    const { created } = await upsertPolicy(this.deps.store.db, record, now);
    return { policy: { ...record, createdAt: now, updatedAt: now }, created };
  }

  listPolicies(): Promise<StoredPolicy[]> {
    return listPolicies(this.deps.store.db);
  }

  async deletePolicy(id: string): Promise<void> {
    if (!(await deletePolicy(this.deps.store.db, id))) throw new BulwarkError('NOT_FOUND', `no custom policy "${id}"; list them with \`bulwark policy ls\``);
  }

  // Advisories

  /** One import at a time per replica: each holds a large file and its parse in memory. */
  async importAdvisories(text: string, fileName: string): Promise<{ format: string; added: number; updated: number; skipped: number }> {
    if (this.#importing) throw new BulwarkError('RATE_LIMITED', 'an advisory import is already running on this server; retry when it has finished', { retryAfterMs: 5000 });
    this.#importing = true;
    try {
      const { advisories, format, skipped } = parseAdvisoryFile(text, fileName);
      const rows = advisories.map((a) => ({ id: a.id, origin: a.origin, packages: advisoryPackageKeys(a), data: a }));
      const { added, updated } = await upsertAdvisories(this.deps.store.db, rows, this.deps.clock.now());
      return { format, added, updated, skipped };
    } finally {
      this.#importing = false;
    }
  }

  advisoryStats(): ReturnType<typeof advisoryStats> {
    return advisoryStats(this.deps.store.db);
  }
}

/** The first time after `now` a cron expression fires (UTC). Throws INVALID_SCHEDULE for a bad expression. */
export function nextRunAt(cron: string, now: number): number {
  // Five fields (or a nickname): croner also reads a sixth, seconds field, and a
  // schedule firing every second is a mistake, not a policy.
  if (!/^@(yearly|annually|monthly|weekly|daily|hourly)$/.test(cron.trim()) && cron.trim().split(/\s+/).length !== 5) {
    throw new BulwarkError('INVALID_SCHEDULE', `"${cron}" is not a five-field cron expression; use minute hour day-of-month month day-of-week, e.g. "0 3 * * *" for 03:00 UTC daily`);
  }
  let job: Cron;
  try {
    job = new Cron(cron, { timezone: 'UTC', paused: true });
  } catch (err) {
    throw new BulwarkError('INVALID_SCHEDULE', `"${cron}" is not a cron expression (${err instanceof Error ? err.message : String(err)}); use five fields, e.g. "0 3 * * *" for 03:00 UTC daily`);
  }
  const next = job.nextRun(new Date(now));
  job.stop();
  if (!next) throw new BulwarkError('INVALID_SCHEDULE', `"${cron}" never fires; use five fields, e.g. "0 3 * * *" for 03:00 UTC daily`);
  return next.getTime();
}

/** A channel a request can go out on now. */
function isOpen(session: AgentSession | undefined): session is AgentSession {
  return session !== undefined && !session.closed && session.ws.readyState === session.ws.OPEN;
}
