import { isMap, isScalar, isSeq, LineCounter, parseAllDocuments } from 'yaml';
import type { Document, Node } from 'yaml';
import { BulwarkError } from '../core/errors.js';
import type { ErrorCode } from '../core/errors.js';

/** One YAML document of a stream, as plain data, with a way back to source lines. */
export interface YamlDocument {
  data: unknown;
  /** `line:column` (1-based) of the value at `path`, or of its nearest ancestor present. */
  locate(path: readonly (string | number)[]): string;
}

/**
 * Parses a YAML stream (documents separated by `---`) into plain data. Syntax
 * errors, duplicate keys and alias bombs become BulwarkError(code) whose message
 * starts with `line:column`.
 */
export function loadYaml(text: string, code: ErrorCode, what: string): YamlDocument[] {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number): string => {
    const { line, col } = lineCounter.linePos(offset);
    return `${Math.max(line, 1)}:${col}`;
  };
  const out: YamlDocument[] = [];
  for (const doc of docs) {
    const error = doc.errors[0];
    if (error) {
      const message = error.message.split('\n')[0] ?? error.message;
      throw new BulwarkError(code, `${what}: line ${at(error.pos[0])}: ${message}`, { line: lineCounter.linePos(error.pos[0]).line });
    }
    let data: unknown;
    try {
      // Bounded alias expansion: a "billion laughs" document fails instead of eating memory.
      data = doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      throw new BulwarkError(code, `${what}: ${err instanceof Error ? err.message : String(err)}`);
    }
    out.push({ data, locate: (path) => at(offsetOf(doc, path)) });
  }
  return out;
}

function offsetOf(doc: Document, path: readonly (string | number)[]): number {
  let node: Node | null | undefined = doc.contents as Node | null;
  let offset = node?.range?.[0] ?? 0;
  for (const [i, step] of path.entries()) {
    const last = i === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => (isScalar(p.key) ? p.key.value : p.key) === step);
      if (!pair) break;
      const key = pair.key as Node | null;
      const value = pair.value as Node | null;
      // The key for the last step: its value may start on the next line, or be absent.
      const target = last ? (key ?? value) : (value ?? key);
      if (!target?.range) break;
      offset = target.range[0];
      node = value;
    } else if (isSeq(node) && typeof step === 'number') {
      const item = node.items[step] as Node | null | undefined;
      if (!item?.range) break;
      offset = item.range[0];
      node = item;
    } else {
      break;
    }
  }
  return offset;
}
