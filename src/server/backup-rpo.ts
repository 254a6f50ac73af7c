import type { RunState } from '../protocol/backup.js';
import type { BackupStatusRecord } from '../store/backup-results.js';

/** The recovery point of one node under one policy at `now`. */
export interface RpoInput {
  now: number;
  /** Start of the last good backup, or null when there never was one. */
  lastGoodAt: number | null;
  /** Where the clock starts when there never was a good backup: the policy's creation or the node's join, the later. */
  since: number;
  maxAgeMs: number;
}

export interface Rpo {
  /** now − lastGoodAt; null when there never was a good backup. */
  ageMs: number | null;
  /** No good backup within max-age. */
  overdue: boolean;
}

/**
 * How old the newest good backup is and whether that breaks the objective.
 * A node that never had one is overdue once max-age has passed since it
 * started to be covered, not at once: a policy just created is not a breach.
 */
export function rpoOf(input: RpoInput): Rpo {
  const ageMs = input.lastGoodAt === null ? null : Math.max(0, input.now - input.lastGoodAt);
  const reference = input.lastGoodAt ?? input.since;
  return { ageMs, overdue: input.now - reference > input.maxAgeMs };
}

/** Whether a run counts as a good backup: a snapshot was written (a partial one too: it holds all it could read). */
export function isGoodRun(run: { state: RunState; snapshotId: string | null }): boolean {
  return (run.state === 'succeeded' || run.state === 'partial') && run.snapshotId !== null;
}

export interface ReportedRun {
  state: RunState;
  snapshotId: string | null;
  startedAt: number;
  finishedAt: number;
  errorCode: string | null;
  errorMessage: string | null;
}

/**
 * The status of a node and policy after a reported run. Reports may arrive
 * late or twice (after a reconnect), so neither the last run nor the last good
 * backup ever moves back in time. A good run clears a raised `backup.missed`.
 */
export function statusAfterRun(prev: BackupStatusRecord | undefined, key: { nodeId: string; policyId: string }, run: ReportedRun): BackupStatusRecord {
  const base: BackupStatusRecord = prev ?? {
    nodeId: key.nodeId,
    policyId: key.policyId,
    lastGoodAt: null,
    lastGoodSnapshot: null,
    lastRunAt: null,
    lastRunState: null,
    lastErrorCode: null,
    lastErrorMessage: null,
    missedAt: null,
  };
  const next = { ...base };
  if (base.lastRunAt === null || run.finishedAt >= base.lastRunAt) {
    next.lastRunAt = run.finishedAt;
    next.lastRunState = run.state;
    next.lastErrorCode = run.errorCode;
    next.lastErrorMessage = run.errorMessage;
  }
  if (isGoodRun(run) && (base.lastGoodAt === null || run.startedAt > base.lastGoodAt)) {
    next.lastGoodAt = run.startedAt;
    next.lastGoodSnapshot = run.snapshotId;
    next.missedAt = null;
  }
  return next;
}

export interface CoveredNode {
  nodeId: string;
  policyId: string;
  /** Policy creation or node join, the later. */
  since: number;
  maxAgeMs: number;
  status: BackupStatusRecord | undefined;
}

/**
 * The nodes for which `backup.missed` is due now: overdue, and not raised
 * since their last good backup. Each gap raises it once; a good run clears it.
 */
export function missedNow(covered: readonly CoveredNode[], now: number): CoveredNode[] {
  return covered.filter((c) => {
    if (c.status?.missedAt !== null && c.status?.missedAt !== undefined) return false;
    return rpoOf({ now, lastGoodAt: c.status?.lastGoodAt ?? null, since: c.since, maxAgeMs: c.maxAgeMs }).overdue;
  });
}
