import type { PolicyRule, RuleGroup } from './model.js';
import { isAccessRefused } from './path-guard.js';
import { RULE_TYPES } from './rules/index.js';
import type { RuleContext, RuleOutcome } from './rules/types.js';
import { evaluateScaRule } from './sca/evaluate-sca-rule.js';

function evaluateOwn(rule: PolicyRule, ctx: RuleContext): Promise<RuleOutcome> {
  if (rule.kind === 'sca') return evaluateScaRule(rule, ctx);
  const type = RULE_TYPES.get(rule.type);
  if (type === undefined) throw new Error(`rule type "${rule.type}" is not known to this engine`);
  return type.evaluate(rule.options as never, ctx);
}

/**
 * One rule's result with its `not` applied; a rule that cannot be evaluated
 * stays not applicable. A rule that met a refused access (a denied path, a
 * FIFO) is not applicable with the refusal as evidence, whatever it made of
 * the error: its verdict would rest on a read that did not happen.
 */
export async function evaluateRule(rule: PolicyRule, ctx: RuleContext): Promise<RuleOutcome> {
  const from = ctx.refusals.length;
  let outcome: RuleOutcome | undefined;
  try {
    outcome = await evaluateOwn(rule, ctx);
  } catch (err) {
    if (!isAccessRefused(err)) throw err;
    outcome = { result: 'not_applicable', evidence: err.message };
  }
  const refused = ctx.refusals[from];
  if (refused !== undefined) return { result: 'not_applicable', evidence: refused.message };
  if (!rule.negated || outcome.result === 'not_applicable') return outcome;
  return { result: !outcome.result, evidence: outcome.evidence };
}

/** Each distinct piece once: two rules over a missing file need not say so twice. */
function joinEvidence(pieces: readonly string[]): string {
  return [...new Set(pieces)].join('; ');
}

/**
 * A condition over rules, as Wazuh decides it: `all` fails at the first false
 * rule, `any` passes at the first true one, `none` fails at the first true one;
 * the rules after the deciding one are not evaluated. A rule that cannot be
 * evaluated makes the group not applicable, unless another rule decides it.
 * The evidence is what decided: the deciding rule, or every rule when all of
 * them had to be looked at.
 */
export async function evaluateGroup(group: RuleGroup, ctx: RuleContext): Promise<RuleOutcome> {
  const decidesOn = group.condition === 'all' ? false : true;
  const seen: string[] = [];
  const unknown: string[] = [];
  for (const rule of group.rules) {
    const outcome = await evaluateRule(rule, ctx);
    if (outcome.result === 'not_applicable') {
      unknown.push(outcome.evidence);
      continue;
    }
    if (outcome.result === decidesOn) return { result: group.condition === 'any', evidence: outcome.evidence };
    seen.push(outcome.evidence);
  }
  if (unknown.length > 0) return { result: 'not_applicable', evidence: joinEvidence(unknown) };
  return { result: group.condition !== 'any', evidence: joinEvidence(seen) };
}
