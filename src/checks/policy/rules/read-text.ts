import { isAccessRefused } from '../path-guard.js';
import type { RuleContext } from './types.js';

/** A file's text, its absence, or why it could not be read: rules tell "not there" from "could not look". */
export type ReadResult = { kind: 'text'; text: string } | { kind: 'missing' } | { kind: 'error'; reason: string };

/** `EACCES: permission denied`, or the message of an error without a code. */
export function errorReason(err: unknown): string {
  if (isAccessRefused(err)) return err.reason;
  const e = err as NodeJS.ErrnoException;
  if (typeof e?.code === 'string' && typeof e.message === 'string') {
    const detail = e.message.replace(/^[A-Z]+: /, '').replace(/, \w+ '.*'$/, '');
    return `${e.code}: ${detail}`;
  }
  return e instanceof Error ? e.message : String(err);
}

export async function readText(ctx: RuleContext, path: string): Promise<ReadResult> {
  try {
    const text = await ctx.readFile(path);
    return text === undefined ? { kind: 'missing' } : { kind: 'text', text };
  } catch (err) {
    // A refusal is its own evidence: `/x: not a regular file`.
    if (isAccessRefused(err)) return { kind: 'error', reason: err.message };
    return { kind: 'error', reason: `could not read ${path}: ${errorReason(err)}` };
  }
}

/** Lines without their terminators; a final newline does not make an extra empty line. */
export function splitLines(text: string): string[] {
  if (text === '') return [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines.map((line) => (line.endsWith('\r') ? line.slice(0, -1) : line));
}
