import { type Node, isScalar } from 'yaml';
import type { Policy, PolicyCheck, PolicyRequirements, RuleGroup } from './model.js';
import { parseCompliance, parseCondition, parsePolicyId, parseRuleText, parseVariables, ruleNodes } from './parse-common.js';
import { REGEX_DIALECTS, type RegexDialect } from './regex/compiled-regex.js';
import type { Field, PolicySource } from './yaml-source.js';

type YamlNode = Node | null | undefined;

/**
 * The default regex dialect when neither the check nor the policy sets
 * `regex_type`: Wazuh 4 policies (checks with `title`) were written for its
 * default OS_Regex; Wazuh 5 policies (checks with `name`) for PCRE2, the only
 * engine of its agent. Reading either with the other dialect silently changes
 * what `.`, `+` and `[…]` mean.
 */
function defaultDialect(checks: Map<string, Field>[]): RegexDialect {
  return checks.some((c) => c.has('name') && !c.has('title')) ? 'pcre2' : 'osregex';
}

function parseDialect(src: PolicySource, fields: Map<string, Field>, what: string): RegexDialect | undefined {
  const field = fields.get('regex_type');
  if (field === undefined || field.value === null) return undefined;
  const value = src.text(field, what);
  if (!(REGEX_DIALECTS as readonly string[]).includes(value)) src.fail(field.value, `${what}: unknown regex_type ${JSON.stringify(value)}`, 'use pcre2 or osregex');
  return value as RegexDialect;
}

function title(src: PolicySource, fields: Map<string, Field>, parent: YamlNode, what: string): string {
  const field = fields.get('title') ?? fields.get('name');
  if (field === undefined || field.value === null || field.value === undefined) src.fail(parent, `${what}: missing title`, 'add title:');
  return src.text(field, what);
}

function ruleGroup(src: PolicySource, fields: Map<string, Field>, parent: YamlNode, what: string, dialect: RegexDialect, variables: Map<string, string>): RuleGroup {
  const condition = parseCondition(src, fields, parent, what, true);
  const rules = ruleNodes(src, fields, parent, what).map((node) => {
    const resolved = src.resolve(node);
    if (!isScalar(resolved) || typeof resolved.value !== 'string') src.fail(node, `${what}: a rule must be text`, 'write the rule as a quoted string such as \'f:/etc/passwd\'');
    return parseRuleText(src, node, resolved.value, { dialect, variables }, what);
  });
  return { condition, rules };
}

function checkId(src: PolicySource, field: Field, seen: Map<string, number>): string {
  const node = src.resolve(field.value);
  if (!isScalar(node) || typeof node.value !== 'number' || !Number.isInteger(node.value) || node.value <= 0) {
    const shown = isScalar(node) ? ` ${JSON.stringify(node.value)}` : '';
    src.fail(field.value ?? field.key, `check id${shown} must be a positive integer`, 'SCA check ids are numbers such as 3000');
  }
  const id = String(node.value);
  const first = seen.get(id);
  if (first !== undefined) src.fail(field.value, `duplicate check id ${id} (first used at line ${first})`, 'give each check its own id');
  return id;
}

/** A Wazuh SCA policy as Wazuh ships it (policy, requirements, variables, checks); fields Wazuh ignores are ignored. */
export function parseScaPolicy(src: PolicySource, root: Map<string, Field>, rootNode: YamlNode): Policy {
  const policyField = src.required(root, 'policy', rootNode, 'policy file');
  const info = src.map(policyField.value, 'policy');
  const id = parsePolicyId(src, src.required(info, 'id', policyField.value, 'policy'));
  const variables = parseVariables(src, root.get('variables'));
  const checksField = src.required(root, 'checks', rootNode, 'policy file');
  const checkNodes = src.seq(checksField.value, 'checks');
  const checkFields = checkNodes.map((node) => src.map(node, 'a check'));
  const policyDialect = parseDialect(src, info, 'policy') ?? defaultDialect(checkFields);

  const policy: Policy = { format: 'wazuh-sca', id, name: title(src, info, policyField.value, 'policy').trim(), checks: [] };
  const description = src.optionalText(info, 'description', 'policy');
  if (description !== undefined) policy.description = description;
  const file = src.optionalText(info, 'file', 'policy');
  if (file !== undefined) policy.file = file;
  const references = src.optionalList(info, 'references', 'policy');
  if (references !== undefined) policy.references = references;

  const requirementsField = root.get('requirements');
  if (requirementsField !== undefined && requirementsField.value !== null) {
    const fields = src.map(requirementsField.value, 'requirements');
    const requirements: PolicyRequirements = {
      title: title(src, fields, requirementsField.value, 'requirements'),
      ...ruleGroup(src, fields, requirementsField.value, 'requirements', policyDialect, variables),
    };
    const reqDescription = src.optionalText(fields, 'description', 'requirements');
    if (reqDescription !== undefined) requirements.description = reqDescription;
    policy.requirements = requirements;
  }

  const seen = new Map<string, number>();
  checkNodes.forEach((node, index) => {
    const fields = checkFields[index] as Map<string, Field>;
    const idField = src.required(fields, 'id', node, `check #${index + 1}`);
    const checkIdText = checkId(src, idField, seen);
    seen.set(checkIdText, src.line(idField.value));
    const what = `check ${checkIdText}`;
    const dialect = parseDialect(src, fields, what) ?? policyDialect;
    const check: PolicyCheck = { id: checkIdText, title: title(src, fields, node, what), severity: 'medium', ...ruleGroup(src, fields, node, what, dialect, variables) };
    for (const name of ['description', 'rationale', 'remediation'] as const) {
      const value = src.optionalText(fields, name, what);
      if (value !== undefined) check[name] = value;
    }
    const checkReferences = src.optionalList(fields, 'references', what);
    if (checkReferences !== undefined) check.references = checkReferences;
    const compliance = fields.get('compliance');
    if (compliance !== undefined && compliance.value !== null) check.compliance = parseCompliance(src, compliance.value, what);
    policy.checks.push(check);
  });
  return policy;
}
