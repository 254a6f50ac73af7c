import { type AuditError, type Finding, type FindingStatus, clampEvidence } from '../model.js';
import type { AuditHost } from '../host.js';
import { createRuleContext } from './context.js';
import { evaluateGroup } from './evaluate-group.js';
import type { Policy, PolicyCheck } from './model.js';
import { redactEvidence } from './redact.js';
import type { RuleContext } from './rules/types.js';

export interface EvaluateOptions {
  /** The evaluation's time (ms since the epoch), from the caller's clock. */
  now?: number;
  /** Stops between checks: the evaluation rejects with the signal's reason. */
  signal?: AbortSignal;
}

export interface PolicyEvaluation {
  policyId: string;
  /** false: the policy's requirements were not met and every check is not applicable. */
  requirementsMet: boolean;
  /** One finding per check, in policy order. */
  findings: Finding[];
  /** Checks that failed unexpectedly (not a finding's result: a fault to look at). */
  errors: AuditError[];
}

/**
 * Every check's evidence goes through here, whatever rule produced it: secrets
 * a match echoed (a password hash, a key, a line of /etc/shadow) are taken out
 * before the text is clamped, so a cut cannot leave half a secret behind.
 */
function finding(policy: Policy, check: PolicyCheck, status: FindingStatus, evidence: string, ctx: RuleContext): Finding {
  const out: Finding = {
    kind: 'check',
    key: `check:${policy.id}/${check.id}`,
    ruleId: check.id,
    source: policy.id,
    title: check.title,
    severity: check.severity,
    status,
    evidence: clampEvidence(redactEvidence(evidence, { secretFiles: ctx.secretFiles })),
  };
  if (check.rationale !== undefined) out.rationale = check.rationale;
  if (check.remediation !== undefined) out.remediation = check.remediation;
  if (check.references !== undefined) out.references = [...check.references];
  if (check.compliance !== undefined) out.compliance = Object.fromEntries(Object.entries(check.compliance).map(([k, v]) => [k, [...v]]));
  return out;
}

async function evaluateCheck(policy: Policy, check: PolicyCheck, ctx: RuleContext, errors: AuditError[]): Promise<Finding> {
  try {
    if (check.appliesWhen !== undefined) {
      const applies = await evaluateGroup(check.appliesWhen, ctx);
      if (applies.result !== true) return finding(policy, check, 'not_applicable', `does not apply: ${applies.evidence}`, ctx);
    }
    const outcome = await evaluateGroup(check, ctx);
    const status = outcome.result === 'not_applicable' ? 'not_applicable' : outcome.result ? 'pass' : 'fail';
    return finding(policy, check, status, outcome.evidence, ctx);
  } catch (err) {
    const message = redactEvidence(err instanceof Error ? err.message : String(err), { secretFiles: ctx.secretFiles });
    errors.push({ source: policy.id, message: `check ${check.id}: ${message}` });
    return finding(policy, check, 'not_applicable', `could not evaluate: ${message}`, ctx);
  }
}

/**
 * Evaluates every check of a policy against a host: one finding per check,
 * never a crash for one bad check. Reads are cached for the evaluation, so
 * checks that look at the same files cost one read.
 */
export async function evaluatePolicy(policy: Policy, host: AuditHost, options: EvaluateOptions = {}): Promise<PolicyEvaluation> {
  const ctx = createRuleContext(host, options.now ?? Date.now());
  const errors: AuditError[] = [];
  let requirementsMet = true;
  if (policy.requirements !== undefined) {
    try {
      requirementsMet = (await evaluateGroup(policy.requirements, ctx)).result === true;
    } catch (err) {
      requirementsMet = false;
      errors.push({ source: policy.id, message: `requirements: ${redactEvidence(err instanceof Error ? err.message : String(err), { secretFiles: ctx.secretFiles })}` });
    }
  }
  const findings: Finding[] = [];
  for (const check of policy.checks) {
    options.signal?.throwIfAborted();
    findings.push(requirementsMet ? await evaluateCheck(policy, check, ctx, errors) : finding(policy, check, 'not_applicable', `requirements not met: ${policy.requirements?.title ?? ''}`, ctx));
  }
  return { policyId: policy.id, requirementsMet, findings, errors };
}
