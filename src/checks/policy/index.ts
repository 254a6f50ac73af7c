export { parsePolicy } from './parse.js';
export { evaluatePolicy, type EvaluateOptions, type PolicyEvaluation } from './evaluate.js';
export { createRootedHost, type RootedHostOptions } from './rooted-host.js';
export type { Condition, ContentPattern, Minterm, Policy, PolicyCheck, PolicyFormat, PolicyRequirements, PolicyRule, RuleGroup, ScaRule, TypedRule } from './model.js';
export { redactEvidence, type RedactOptions } from './redact.js';
