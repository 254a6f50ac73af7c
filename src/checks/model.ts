/**
 * The audit engine's result model, shared by the policy evaluator, the
 * vulnerability matcher, the TLS scanner and the report writers. Every source
 * turns its results into `Finding`s, so the server stores, scores, diffs and
 * reports them one way.
 */

export const SEVERITIES = ['critical', 'high', 'medium', 'low', 'info'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** Higher is worse; used to sort and to filter "at least high". */
export function severityRank(severity: Severity): number {
  return SEVERITIES.length - SEVERITIES.indexOf(severity);
}

export const FINDING_STATUSES = ['pass', 'fail', 'not_applicable'] as const;
export type FindingStatus = (typeof FINDING_STATUSES)[number];

export const FINDING_KINDS = ['check', 'vulnerability', 'tls'] as const;
export type FindingKind = (typeof FINDING_KINDS)[number];

/** Longest evidence string kept: the line or value that decided a result, not a file dump. */
export const MAX_EVIDENCE_CHARS = 1024;

export interface Finding {
  kind: FindingKind;
  /**
   * Stable identity across runs, used for drift: `check:<policy>/<check>`,
   * `vulnerability:<advisory>/<package>`, `tls:<host>:<port>/<rule>`.
   */
  key: string;
  /** Check id, advisory id, or TLS rule id (`tls-weak-protocol`, …). */
  ruleId: string;
  /** The policy a check comes from; the data set for vulnerabilities; `tls` for TLS. */
  source: string;
  title: string;
  severity: Severity;
  status: FindingStatus;
  /** The line, value or observation that decided the result (at most MAX_EVIDENCE_CHARS). */
  evidence: string;
  rationale?: string;
  remediation?: string;
  references?: string[];
  /** e.g. `{ cis: ['5.2.10'] }`. */
  compliance?: Record<string, string[]>;
  /** File, package or endpoint the finding is about. */
  location?: string;
  /** Kind-specific facts: installed and fixed versions, TLS protocol and cipher, … */
  details?: Record<string, string | number | boolean | string[]>;
}

/** A problem that stopped a policy, a target or a data source from being evaluated at all. */
export interface AuditError {
  source: string;
  message: string;
}

export interface AuditSummary {
  passed: number;
  failed: number;
  notApplicable: number;
  /** passed / (passed + failed), 0–100, one decimal; 100 when nothing applied. */
  score: number;
  /** Failed findings by severity. */
  failedBySeverity: Record<Severity, number>;
}

/** Clamps evidence to MAX_EVIDENCE_CHARS, marking the cut. */
export function clampEvidence(text: string): string {
  if (text.length <= MAX_EVIDENCE_CHARS) return text;
  return `${text.slice(0, MAX_EVIDENCE_CHARS - 1)}…`;
}

export function summarize(findings: readonly Finding[]): AuditSummary {
  const failedBySeverity = Object.fromEntries(SEVERITIES.map((s) => [s, 0])) as Record<Severity, number>;
  let passed = 0;
  let failed = 0;
  let notApplicable = 0;
  for (const f of findings) {
    if (f.status === 'pass') passed++;
    else if (f.status === 'not_applicable') notApplicable++;
    else {
      failed++;
      failedBySeverity[f.severity]++;
    }
  }
  const applicable = passed + failed;
  const score = applicable === 0 ? 100 : Math.round((passed / applicable) * 1000) / 10;
  return { passed, failed, notApplicable, score, failedBySeverity };
}

/** One node's audit: what the agent (or `audit local`) produced, plus the identity the server knows it by. */
export interface NodeAuditResult {
  nodeId: string;
  nodeName: string;
  labels: Record<string, string>;
  runId: string;
  startedAt: number;
  finishedAt: number;
  summary: AuditSummary;
  findings: Finding[];
  errors: AuditError[];
}

/** What the report writers take: a fleet (or one machine) at one point in time. */
export interface FleetReport {
  title: string;
  generatedAt: number;
  nodes: NodeAuditResult[];
}
