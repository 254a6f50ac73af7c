import { type Node, isMap, isScalar } from 'yaml';
import { SEVERITIES, type Severity } from '../model.js';
import type { Policy, PolicyCheck, PolicyRule, RuleGroup } from './model.js';
import { parseCompliance, parseCondition, parsePolicyId, parseRuleText, parseVariables, ruleNodes } from './parse-common.js';
import { parseTypedRule } from './parse-typed-rule.js';
import type { Field, PolicySource } from './yaml-source.js';

type YamlNode = Node | null | undefined;

export const NATIVE_FORMAT = 'bulwark/v1';

const TOP_FIELDS = ['policy', 'requirements', 'variables', 'checks'];
const POLICY_FIELDS = ['id', 'name', 'description', 'format', 'references'];
const REQUIREMENT_FIELDS = ['title', 'description', 'condition', 'rules'];
const GROUP_FIELDS = ['condition', 'rules'];
const CHECK_FIELDS = ['id', 'title', 'description', 'severity', 'rationale', 'remediation', 'references', 'compliance', 'applies_when', 'condition', 'rules'];
const CHECK_ID = /^[a-z0-9][a-z0-9.-]{1,62}$/;

function rule(src: PolicySource, node: YamlNode, variables: Map<string, string>, what: string): PolicyRule {
  const resolved = src.resolve(node);
  if (isScalar(resolved) && typeof resolved.value === 'string') return parseRuleText(src, node, resolved.value, { dialect: 'pcre2', variables }, what);
  if (isMap(resolved)) return parseTypedRule(src, node, variables, what);
  return src.fail(node, `${what}: a rule is an SCA rule string or a rule object`, "write e.g. 'f:/etc/passwd' or { file: /etc/shadow, mode_max: '0640' }");
}

function group(src: PolicySource, fields: Map<string, Field>, parent: YamlNode, what: string, variables: Map<string, string>): RuleGroup {
  return { condition: parseCondition(src, fields, parent, what, false), rules: ruleNodes(src, fields, parent, what).map((node) => rule(src, node, variables, what)) };
}

function severity(src: PolicySource, field: Field, what: string): Severity {
  const value = src.text(field, what);
  if (!(SEVERITIES as readonly string[]).includes(value)) src.fail(field.value, `${what}: unknown severity ${JSON.stringify(value)}`, `use one of ${SEVERITIES.join(', ')}`);
  return value as Severity;
}

function checkId(src: PolicySource, field: Field, seen: Map<string, number>): string {
  const node = src.resolve(field.value);
  const id = isScalar(node) ? String(node.value) : '';
  if (!isScalar(node) || typeof node.value !== 'string' || !CHECK_ID.test(id)) {
    src.fail(field.value, `check id ${JSON.stringify(id)} is not a valid id`, 'use 2 to 63 lower-case letters, digits, "." and "-", such as ssh-root-login');
  }
  const first = seen.get(id);
  if (first !== undefined) src.fail(field.value, `duplicate check id "${id}" (first used at line ${first})`, 'give each check its own id');
  return id;
}

/** The native `bulwark/v1` format: strict, every field known, typed rules validated by their schemas. */
export function parseNativePolicy(src: PolicySource, root: Map<string, Field>, rootNode: YamlNode): Policy {
  src.onlyKnown(root, TOP_FIELDS, 'policy file');
  const policyField = src.required(root, 'policy', rootNode, 'policy file');
  const info = src.map(policyField.value, 'policy');
  src.onlyKnown(info, POLICY_FIELDS, 'policy');
  const policy: Policy = {
    format: NATIVE_FORMAT,
    id: parsePolicyId(src, src.required(info, 'id', policyField.value, 'policy')),
    name: src.text(src.required(info, 'name', policyField.value, 'policy'), 'policy'),
    checks: [],
  };
  const description = src.optionalText(info, 'description', 'policy');
  if (description !== undefined) policy.description = description;
  const references = src.optionalList(info, 'references', 'policy');
  if (references !== undefined) policy.references = references;
  const variables = parseVariables(src, root.get('variables'));

  const requirementsField = root.get('requirements');
  if (requirementsField !== undefined && requirementsField.value !== null) {
    const fields = src.map(requirementsField.value, 'requirements');
    src.onlyKnown(fields, REQUIREMENT_FIELDS, 'requirements');
    const title = src.text(src.required(fields, 'title', requirementsField.value, 'requirements'), 'requirements');
    policy.requirements = { title, ...group(src, fields, requirementsField.value, 'requirements', variables) };
    const reqDescription = src.optionalText(fields, 'description', 'requirements');
    if (reqDescription !== undefined) policy.requirements.description = reqDescription;
  }

  const seen = new Map<string, number>();
  const checksField = src.required(root, 'checks', rootNode, 'policy file');
  src.seq(checksField.value, 'checks').forEach((node, index) => {
    const fields = src.map(node, `check #${index + 1}`);
    const idField = src.required(fields, 'id', node, `check #${index + 1}`);
    const id = checkId(src, idField, seen);
    seen.set(id, src.line(idField.value));
    const what = `check ${id}`;
    src.onlyKnown(fields, CHECK_FIELDS, what);
    const check: PolicyCheck = {
      id,
      title: src.text(src.required(fields, 'title', node, what), what),
      severity: severity(src, src.required(fields, 'severity', node, what), what),
      rationale: src.text(src.required(fields, 'rationale', node, what), what),
      remediation: src.text(src.required(fields, 'remediation', node, what), what),
      ...group(src, fields, node, what, variables),
    };
    const checkDescription = src.optionalText(fields, 'description', what);
    if (checkDescription !== undefined) check.description = checkDescription;
    const checkReferences = src.optionalList(fields, 'references', what);
    if (checkReferences !== undefined) check.references = checkReferences;
    const compliance = fields.get('compliance');
    if (compliance !== undefined && compliance.value !== null) {
      if (!isMap(src.resolve(compliance.value))) src.fail(compliance.value, `${what}: compliance must be a mapping`, "write e.g. compliance: { cis: ['5.1.20'] }");
      check.compliance = parseCompliance(src, compliance.value, what);
    }
    const appliesWhen = fields.get('applies_when');
    if (appliesWhen !== undefined && appliesWhen.value !== null) {
      const appliesFields = src.map(appliesWhen.value, `${what}: applies_when`);
      src.onlyKnown(appliesFields, GROUP_FIELDS, `${what}: applies_when`);
      check.appliesWhen = group(src, appliesFields, appliesWhen.value, `${what}: applies_when`, variables);
    }
    policy.checks.push(check);
  });
  return policy;
}
