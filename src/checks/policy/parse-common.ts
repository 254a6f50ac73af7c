import { type Node, isMap, isScalar } from 'yaml';
import { CONDITIONS, type Condition, type ScaRule } from './model.js';
import { type ScaParseOptions, parseScaRule } from './sca/parse-rule.js';
import { RuleSyntaxError } from './sca/rule-syntax-error.js';
import type { Field, PolicySource } from './yaml-source.js';

/** Wazuh still reads the deprecated `all required` / `any required` as `all` / `any`. */
const DEPRECATED_CONDITIONS: Record<string, Condition> = { 'all required': 'all', 'any required': 'any' };

export function parseCondition(src: PolicySource, fields: Map<string, Field>, parent: Node | null | undefined, what: string, allowDeprecated: boolean): Condition {
  const field = fields.get('condition');
  if (field === undefined || field.value === null || field.value === undefined) src.fail(field?.key ?? parent, `${what}: missing condition`, 'add condition: all, any or none');
  const value = src.text(field, what);
  if ((CONDITIONS as readonly string[]).includes(value)) return value as Condition;
  const deprecated = allowDeprecated ? DEPRECATED_CONDITIONS[value] : undefined;
  if (deprecated !== undefined) return deprecated;
  return src.fail(field.value, `${what}: unknown condition ${JSON.stringify(value)}`, 'use all, any or none');
}

/** One SCA rule string, refused with its position when it does not parse. */
export function parseRuleText(src: PolicySource, node: Node | null | undefined, text: string, options: ScaParseOptions, what: string): ScaRule {
  try {
    return parseScaRule(text, options);
  } catch (err) {
    if (err instanceof RuleSyntaxError) src.fail(node, `${what}: ${err.message}`, err.hint);
    throw err;
  }
}

/** The rules list of a check or group: present and not empty. */
export function ruleNodes(src: PolicySource, fields: Map<string, Field>, parent: Node | null | undefined, what: string): (Node | null | undefined)[] {
  const field = fields.get('rules');
  if (field === undefined || field.value === null || field.value === undefined) src.fail(field?.key ?? parent, `${what}: missing rules`, 'add rules: with at least one rule');
  const items = src.seq(field.value, `${what}: rules`);
  if (items.length === 0) src.fail(field.value, `${what}: has no rules`, 'add at least one rule');
  return items;
}

/**
 * `compliance:` as a mapping of lists (`cis: ['5.1.20']`) or, as Wazuh 4
 * policies write it, a list of one-key mappings (`- cis: ['5.1.20']`).
 */
export function parseCompliance(src: PolicySource, node: Node | null | undefined, what: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  const add = (fields: Map<string, Field>): void => {
    for (const [name, field] of fields) {
      const resolved = src.resolve(field.value);
      out[name] = [...(out[name] ?? []), ...(isScalar(resolved) ? [String(resolved.value)] : src.scalarList(field.value, `${what}: compliance ${name}`))];
    }
  };
  if (isMap(src.resolve(node))) add(src.map(node, `${what}: compliance`));
  else for (const item of src.seq(node, `${what}: compliance`)) add(src.map(item, `${what}: compliance item`));
  return out;
}

/** `variables:` — `$name: value` pairs. */
export function parseVariables(src: PolicySource, field: Field | undefined): Map<string, string> {
  const variables = new Map<string, string>();
  if (field === undefined || field.value === null) return variables;
  for (const [name, entry] of src.map(field.value, 'variables')) {
    if (!/^\$[A-Za-z_][A-Za-z0-9_]*$/.test(name)) src.fail(entry.key, `variable ${JSON.stringify(name)} must be named $name`, 'start it with $ followed by letters, digits or _');
    const value = src.resolve(entry.value);
    if (!isScalar(value) || value.value === null || typeof value.value === 'object') src.fail(entry.value ?? entry.key, `variable ${name} must be a plain value`, 'write it as text');
    variables.set(name, String(value.value));
  }
  return variables;
}

/** A policy id, usable in finding keys (`check:<policy>/<check>`). */
export function parsePolicyId(src: PolicySource, field: Field): string {
  const node = src.resolve(field.value);
  const id = isScalar(node) ? String(node.value) : '';
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(id)) src.fail(field.value, `policy id ${JSON.stringify(id)} is not a valid id`, 'use letters, digits, ".", "_" and "-" (at most 64)');
  return id;
}
