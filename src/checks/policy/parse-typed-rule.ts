import { type Node, isMap, isSeq } from 'yaml';
import { z } from 'zod';
import type { TypedRule } from './model.js';
import { RULE_TYPES } from './rules/index.js';
import { substituteVariables } from './variables.js';
import type { PolicySource } from './yaml-source.js';

type YamlNode = Node | null | undefined;

/** The option names a rule schema accepts, when it is an object schema (they all are). */
function optionNames(schema: z.ZodType<unknown>): string[] | undefined {
  return schema instanceof z.ZodObject ? Object.keys(schema.shape).filter((name) => name !== 'not') : undefined;
}

/** The YAML node a zod issue path points at, for its line and column; the deepest one that exists. */
function nodeAt(src: PolicySource, node: YamlNode, path: readonly PropertyKey[]): YamlNode {
  let current = node;
  for (const step of path) {
    const resolved = src.resolve(current);
    let next: YamlNode;
    if (isMap(resolved) && typeof step === 'string') next = src.map(resolved, 'rule').get(step)?.value;
    else if (isSeq(resolved) && typeof step === 'number') next = resolved.items[step] as YamlNode;
    if (next === undefined || next === null) return current;
    current = next;
  }
  return current;
}

/**
 * A native rule object: recognised by the one key that names a rule type,
 * validated by that type's schema. A misspelt option is refused by name, so a
 * rule never silently checks less than its author meant.
 */
export function parseTypedRule(src: PolicySource, node: YamlNode, variables: ReadonlyMap<string, string>, what: string): TypedRule {
  const fields = src.map(node, `${what}: rule`);
  const known = [...RULE_TYPES.keys()];
  const typeKeys = [...fields.keys()].filter((name) => RULE_TYPES.has(name));
  if (typeKeys.length === 0) {
    const first = [...fields.keys()].find((name) => name !== 'not');
    src.fail(first === undefined ? node : fields.get(first)?.key, `${what}: unknown rule ${first === undefined ? '(no rule type)' : JSON.stringify(first)}`, `a rule object starts with one of: ${known.join(', ')}`);
  }
  if (typeKeys.length > 1) src.fail(node, `${what}: one rule names several rule types (${typeKeys.join(', ')})`, 'write one rule per list item');
  const type = typeKeys[0] as string;
  const ruleType = RULE_TYPES.get(type);
  if (ruleType === undefined) throw new Error(`rule type ${type} vanished from the registry`);
  const label = `${what}: ${type} rule`;

  const raw = src.resolve(node)?.toJS(src.doc) as Record<string, unknown>;
  const notField = fields.get('not');
  if (notField !== undefined && typeof raw.not !== 'boolean') src.fail(notField.value ?? notField.key, `${label}: not must be true or false`, 'write not: true, or leave it out');
  const { not: _not, ...options } = raw;
  const subject = options[type];
  if (typeof subject === 'string') options[type] = substituteVariables(subject, variables);

  const names = optionNames(ruleType.schema);
  if (names !== undefined) {
    for (const [name, field] of fields) {
      if (name !== 'not' && !names.includes(name)) src.fail(field.key, `${label}: unknown option "${name}"`, `${type} takes: ${names.join(', ')}`);
    }
  }
  const parsed = ruleType.schema.safeParse(options);
  if (!parsed.success) {
    const issue = parsed.error.issues[0] as z.core.$ZodIssue;
    if (issue.code === 'unrecognized_keys') {
      const name = issue.keys[0] as string;
      src.fail(fields.get(name)?.key ?? node, `${label}: unknown option "${name}"`, `${type} takes: ${(names ?? []).join(', ')}`);
    }
    const at = issue.path.length > 0 ? `${issue.path.map(String).join('.')}: ` : '';
    src.fail(nodeAt(src, node, issue.path), `${label}: ${at}${issue.message}`, `see the ${type} rule in the policy documentation`);
  }
  return { kind: 'typed', type, negated: raw.not === true, options: parsed.data as Record<string, unknown> };
}
