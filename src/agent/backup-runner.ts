import { randomUUID } from 'node:crypto';
import { Cron } from 'croner';
import { canonicalJson } from '../core/canonical-json.js';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { AgentMessage } from '../protocol/agent.js';
import {
  BACKUP_LIMITS,
  type BackupPolicies,
  type BackupRestoreRequest,
  type BackupRestoreResult,
  type BackupRunMessage,
  type BackupTrigger,
  type DrillRequest,
  type DrillResultMessage,
  type PolicyItem,
} from '../protocol/backup.js';
import { drillJob, errorOf, restoreJob, runBackupJob } from './backup-jobs.js';

/** Same reading of cron expressions as the server's: UTC, five fields or six with seconds. */
const CRON_OPTIONS = { timezone: 'UTC', mode: '5-or-6-parts' } as const;
/** Restores at once on one node; more are refused (CONFLICT). */
const MAX_RESTORES = 2;
/** Reports kept while the channel is down, sent on the next connection; the oldest go first past this. */
const MAX_OUTBOX = 100;

export interface BackupRunnerOptions {
  dataDir: string;
  /** `backup.restore_dirs` of the agent's configuration: where restores may write (empty: anywhere but protected locations). */
  restoreDirs?: readonly string[];
  clock: Clock;
  log: Logger;
}

interface Scheduled {
  item: PolicyItem;
  /** canonical JSON of the item: a changed policy replaces its jobs. */
  key: string;
  backupJob: Cron | undefined;
  drillJob: Cron | undefined;
}

/**
 * Runs the node's backup policies: one cron job per policy (and one per drill
 * schedule), one run of a policy at a time (a run still going when the next
 * is due is reported `skipped`), restores and drills asked for by the server,
 * and a report of each to the server. The engine does its heavy work on
 * worker threads, so heartbeats go on during a run.
 *
 * Policies, credentials included, live only in memory: after a restart the
 * agent runs nothing until the server sends them again.
 */
export class BackupRunner {
  readonly #policies = new Map<string, Scheduled>();
  #host: string | undefined;
  /** Policies with a backup running, and with a drill running. */
  readonly #running = new Set<string>();
  readonly #drilling = new Set<string>();
  #restores = 0;
  #send: ((message: AgentMessage) => void) | undefined;
  readonly #outbox: AgentMessage[] = [];
  #stopped = false;

  constructor(private readonly options: BackupRunnerOptions) {}

  /** The channel is up: reports held while it was down go out now. */
  connected(send: (message: AgentMessage) => void): void {
    this.#send = send;
    for (const message of this.#outbox.splice(0)) send(message);
  }

  disconnected(): void {
    this.#send = undefined;
  }

  /** Stops every schedule; runs in progress finish, and their reports are dropped. */
  stop(): void {
    this.#stopped = true;
    for (const s of this.#policies.values()) stopJobs(s);
    this.#policies.clear();
  }

  /** The policy names scheduled now (tests, status). */
  get policies(): string[] {
    return [...this.#policies.keys()];
  }

  /** Takes the server's list: new and changed policies are (re)scheduled, those no longer listed stop. */
  apply(message: BackupPolicies): void {
    if (this.#stopped) return;
    this.#host = message.host;
    const listed = new Set(message.policies.map((p) => p.name));
    for (const [name, s] of this.#policies) {
      if (listed.has(name)) continue;
      stopJobs(s);
      this.#policies.delete(name);
      this.options.log.info({ policy: name }, 'backup policy removed');
    }
    for (const item of message.policies) {
      const key = canonicalJson(item);
      const current = this.#policies.get(item.name);
      if (current?.key === key) continue;
      if (current) stopJobs(current);
      this.#policies.set(item.name, {
        item,
        key,
        backupJob: this.#schedule(item.name, item.schedule, () => void this.#backup(item.name, 'schedule')),
        drillJob: item.drillSchedule === undefined ? undefined : this.#schedule(item.name, item.drillSchedule, () => void this.#drill(item.name, 'schedule', item.drillSample)),
      });
      this.options.log.info({ policy: item.name, version: item.version, schedule: item.schedule, drillSchedule: item.drillSchedule ?? null }, current ? 'backup policy updated' : 'backup policy scheduled');
    }
  }

  trigger(message: BackupTrigger): void {
    void this.#backup(message.policy, 'manual', message.requestId);
  }

  drill(message: DrillRequest): void {
    void this.#drill(message.policy, 'manual', message.sample, message.requestId);
  }

  async restore(message: BackupRestoreRequest): Promise<void> {
    const started = this.options.clock.now();
    const answer = (fields: Partial<BackupRestoreResult>): void =>
      this.#report({ type: 'backup_restore_result', requestId: message.requestId, files: 0, dirs: 0, symlinks: 0, bytes: 0, problems: [], problemCount: 0, durationMs: Math.max(0, this.options.clock.now() - started), ...fields });
    const scheduled = this.#policies.get(message.policy);
    if (!scheduled) return answer({ error: { code: 'NOT_FOUND', message: `this node holds no backup policy "${message.policy}"` } });
    if (this.#restores >= MAX_RESTORES) return answer({ error: { code: 'CONFLICT', message: `${MAX_RESTORES} restores are running on this node already; wait for them` } });
    this.#restores += 1;
    try {
      // Another node's snapshots: its repository and key, sent with this request only (same storage and S3 keys as the policy's).
      const item = message.source === undefined ? scheduled.item : { ...scheduled.item, repo: message.source.repo, credential: message.source.credential };
      const result = await restoreJob(item, { host: message.host, snapshot: message.snapshot, target: message.target, include: message.include }, this.options.dataDir, this.options.restoreDirs ?? []);
      this.options.log.info({ policy: message.policy, snapshot: result.snapshotId.slice(0, 8), target: message.target, files: result.files, problems: result.problems.length }, 'restore finished');
      answer({
        snapshotId: result.snapshotId,
        snapshotTime: result.snapshotTime,
        files: result.files,
        dirs: result.dirs,
        symlinks: result.symlinks,
        bytes: result.bytes,
        problems: result.problems.slice(0, BACKUP_LIMITS.maxListedProblems).map((p) => ({ path: p.path.slice(0, BACKUP_LIMITS.maxPathLength), message: p.message.slice(0, BACKUP_LIMITS.maxErrorLength), code: p.code })),
        problemCount: result.problems.length,
      });
    } catch (err) {
      const error = errorOf(err);
      this.options.log.warn({ policy: message.policy, target: message.target, code: error.code, message: error.message }, 'restore failed');
      answer({ error });
    } finally {
      this.#restores -= 1;
    }
  }

  #schedule(policy: string, expression: string, fire: () => void): Cron | undefined {
    try {
      return new Cron(expression, CRON_OPTIONS, fire);
    } catch (err) {
      this.options.log.error({ policy, schedule: expression, err: err instanceof Error ? err.message : String(err) }, 'a backup schedule from the server is not a cron expression; not scheduled');
      return undefined;
    }
  }

  async #backup(name: string, trigger: 'schedule' | 'manual', requestId?: string): Promise<void> {
    const now = this.options.clock.now();
    const base = { type: 'backup_run' as const, runId: randomUUID(), ...(requestId === undefined ? {} : { requestId }), policy: name, trigger, notes: [] as string[] };
    const scheduled = this.#policies.get(name);
    if (!scheduled || this.#host === undefined) {
      this.#report({ ...base, policyVersion: 1, state: 'failed', startedAt: now, finishedAt: now, error: { code: 'NOT_FOUND', message: `this node holds no backup policy "${name}"` } });
      return;
    }
    const { item } = scheduled;
    if (this.#running.has(name)) {
      this.options.log.warn({ policy: name }, 'backup still running when the next was due; skipped');
      this.#report({ ...base, policyVersion: item.version, state: 'skipped', startedAt: now, finishedAt: now, notes: ['the previous run of this policy was still going'] });
      return;
    }
    this.#running.add(name);
    const host = this.#host;
    this.options.log.info({ policy: name, trigger }, 'backup started');
    try {
      const outcome = await runBackupJob(item, host, this.options.dataDir);
      const message: BackupRunMessage = { ...base, policyVersion: item.version, startedAt: now, finishedAt: this.options.clock.now(), ...outcome };
      if (outcome.state === 'failed') this.options.log.warn({ policy: name, code: outcome.error?.code, message: outcome.error?.message }, 'backup failed');
      else this.options.log.info({ policy: name, state: outcome.state, snapshot: outcome.snapshotId?.slice(0, 8), filesNew: outcome.stats?.filesNew, bytesAdded: outcome.stats?.bytesAdded }, 'backup finished');
      this.#report(message);
    } catch (err) {
      this.#report({ ...base, policyVersion: item.version, state: 'failed', startedAt: now, finishedAt: this.options.clock.now(), error: errorOf(err) });
    } finally {
      this.#running.delete(name);
    }
  }

  async #drill(name: string, trigger: 'schedule' | 'manual', sample: number, requestId?: string): Promise<void> {
    const now = this.options.clock.now();
    const empty = { filesInSnapshot: 0, filesSampled: 0, filesVerified: 0, filesFailed: 0, failures: [], sampleBytes: 0, totalBytes: 0, restoreMs: 0, estimatedRtoMs: null, rpoMs: null };
    const base = { type: 'drill_result' as const, drillId: randomUUID(), ...(requestId === undefined ? {} : { requestId }), policy: name, trigger };
    const fail = (error: { code: string; message: string }): void => this.#report({ ...base, ...empty, state: 'failed', startedAt: now, finishedAt: this.options.clock.now(), error });
    const scheduled = this.#policies.get(name);
    if (!scheduled || this.#host === undefined) return fail({ code: 'NOT_FOUND', message: `this node holds no backup policy "${name}"` });
    if (this.#drilling.has(name)) {
      // A scheduled drill due while one runs is no failure of the backups: it waits for the next time.
      if (trigger === 'schedule') {
        this.options.log.info({ policy: name }, 'drill still running when the next was due; skipped');
        return;
      }
      return fail({ code: 'CONFLICT', message: `a drill of policy "${name}" is running already` });
    }
    this.#drilling.add(name);
    this.options.log.info({ policy: name, trigger, sample }, 'drill started');
    try {
      const outcome = await drillJob(scheduled.item, this.#host, sample, this.options.dataDir, this.options.clock);
      const message: DrillResultMessage = { ...base, state: outcome.filesFailed === 0 ? 'succeeded' : 'failed', startedAt: now, finishedAt: this.options.clock.now(), ...outcome };
      this.options.log.info({ policy: name, state: message.state, sampled: outcome.filesSampled, failed: outcome.filesFailed, restoreMs: outcome.restoreMs }, 'drill finished');
      this.#report(message);
    } catch (err) {
      const error = errorOf(err);
      this.options.log.warn({ policy: name, code: error.code, message: error.message }, 'drill failed');
      fail(error);
    } finally {
      this.#drilling.delete(name);
    }
  }

  #report(raw: AgentMessage): void {
    if (this.#stopped) return;
    const message = withoutEpochs(raw);
    if (this.#send) {
      this.#send(message);
      return;
    }
    // Answers to requests are worthless after a reconnect (the server gave up on them); runs and drills are not.
    if (message.type === 'backup_restore_result') return;
    if (this.#outbox.length >= MAX_OUTBOX) this.#outbox.shift();
    this.#outbox.push(message);
  }
}

/** A fleet repository location's epoch (`…/node_x/<16 hex>`), wherever a report quotes it. */
const EPOCH_IN_LOCATION = /(\/node_[a-z2-7]{1,64})\/[0-9a-f]{16}(?![0-9a-f])/g;

/**
 * A report without the epochs of repository locations: an epoch is a hash of
 * the policy's root key, so from a password policy's it would let whoever
 * reads runs and events on the server test password guesses offline.
 */
export function withoutEpochs(message: AgentMessage): AgentMessage {
  const text = JSON.stringify(message);
  const hidden = text.replace(EPOCH_IN_LOCATION, '$1/…');
  return hidden === text ? message : (JSON.parse(hidden) as AgentMessage);
}

function stopJobs(s: Scheduled): void {
  s.backupJob?.stop();
  s.drillJob?.stop();
}
