import { type Document, type LineCounter, type Node, type Scalar, isAlias, isMap, isScalar, isSeq } from 'yaml';
import { BulwarkError } from '../../core/errors.js';

type YamlNode = Node | null | undefined;

export interface Field {
  key: Scalar;
  value: YamlNode;
}

/**
 * A parsed policy document with what it takes to refuse it precisely: every
 * problem becomes `<file>:<line>:<col>: <what is wrong> (<what to do>)`, with
 * the same facts in the error's details.
 */
export class PolicySource {
  constructor(
    readonly file: string,
    readonly doc: Document.Parsed,
    private readonly lines: LineCounter,
  ) {}

  fail(node: YamlNode, what: string, todo: string): never {
    const { line, col } = this.lines.linePos(node?.range?.[0] ?? 0);
    throw policyError(this.file, line, col, what, todo);
  }

  /** The 1-based line a node starts on. */
  line(node: YamlNode): number {
    return this.lines.linePos(node?.range?.[0] ?? 0).line;
  }

  /** Follows `*alias` references to the node they name. */
  resolve(node: YamlNode): YamlNode {
    return isAlias(node) ? (node.resolve(this.doc) as YamlNode) : node;
  }

  /** The fields of a mapping, by key; `what` names it in errors. */
  map(node: YamlNode, what: string): Map<string, Field> {
    const resolved = this.resolve(node);
    if (!isMap(resolved)) this.fail(node, `${what} must be a mapping`, 'write it as key: value lines');
    const out = new Map<string, Field>();
    for (const pair of resolved.items) {
      const key = pair.key;
      if (!isScalar(key) || typeof key.value !== 'string') this.fail(key as YamlNode, `${what} has a key that is not a plain name`, 'use names such as title: or rules:');
      out.set(key.value, { key, value: pair.value as YamlNode });
    }
    return out;
  }

  seq(node: YamlNode, what: string): YamlNode[] {
    const resolved = this.resolve(node);
    if (!isSeq(resolved)) this.fail(node, `${what} must be a list`, 'write one "- item" per line');
    return resolved.items as YamlNode[];
  }

  /** Refuses a mapping field this format does not know, naming the ones it does. */
  onlyKnown(fields: Map<string, Field>, known: readonly string[], what: string): void {
    for (const [name, field] of fields) {
      if (!known.includes(name)) this.fail(field.key, `${what}: unknown field "${name}"`, `known fields: ${known.join(', ')}`);
    }
  }

  required(fields: Map<string, Field>, name: string, parent: YamlNode, what: string): Field {
    const field = fields.get(name);
    if (field === undefined || field.value === null || field.value === undefined) this.fail(field?.key ?? parent, `${what}: missing ${name}`, `add ${name}:`);
    return field;
  }

  /** A text scalar. Numbers are not accepted where text is meant, except as list items of compliance maps. */
  text(field: Field, what: string): string {
    const node = this.resolve(field.value);
    if (!isScalar(node) || typeof node.value !== 'string') this.fail(field.value ?? field.key, `${what}: ${field.key.value} must be text`, 'quote it');
    return node.value;
  }

  optionalText(fields: Map<string, Field>, name: string, what: string): string | undefined {
    const field = fields.get(name);
    return field === undefined || field.value === null ? undefined : this.text(field, what);
  }

  /** A list of scalars as strings (`[1.1, "2.2"]` → `['1.1', '2.2']`). */
  scalarList(node: YamlNode, what: string): string[] {
    return this.seq(node, what).map((item) => {
      const resolved = this.resolve(item);
      if (!isScalar(resolved) || resolved.value === null || typeof resolved.value === 'object') this.fail(item, `${what} must list plain values`, 'write each item as text');
      return String(resolved.value);
    });
  }

  optionalList(fields: Map<string, Field>, name: string, what: string): string[] | undefined {
    const field = fields.get(name);
    return field === undefined || field.value === null ? undefined : this.scalarList(field.value, `${what}: ${name}`);
  }
}

export function policyError(file: string, line: number, column: number, what: string, todo: string): BulwarkError {
  return new BulwarkError('INVALID_POLICY', `${file}:${line}:${column}: ${what} (${todo})`, { file, line, column, problem: what, hint: todo });
}
