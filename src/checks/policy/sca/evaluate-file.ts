import type { Stats } from 'node:fs';
import type { ScaFileRule } from '../model.js';
import { expandGlob, hasGlob } from '../rules/expand-glob.js';
import { errorReason, readText, splitLines } from '../rules/read-text.js';
import type { RuleContext, RuleOutcome } from '../rules/types.js';
import { describeMatch, matchContent } from './match.js';

/** The files a rule names, globs expanded; a glob that matches nothing stays, to be reported as missing. */
async function expandPaths(ctx: RuleContext, paths: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const path of paths) {
    const found = hasGlob(path) ? await expandGlob(ctx, path) : [];
    out.push(...(found.length === 0 ? [path] : found));
  }
  return out;
}

async function existence(rule: ScaFileRule, ctx: RuleContext): Promise<RuleOutcome> {
  let invalid: string | undefined;
  const missing: string[] = [];
  for (const path of await expandPaths(ctx, rule.paths)) {
    let st: Stats | undefined;
    try {
      st = await ctx.stat(path);
    } catch (err) {
      invalid ??= `could not stat ${path}: ${errorReason(err)}`;
      continue;
    }
    if (st?.isFile()) return { result: true, evidence: `${path} exists` };
    if (st === undefined) missing.push(path);
    else invalid ??= `${path} is not a regular file`;
  }
  if (invalid !== undefined) return { result: 'not_applicable', evidence: invalid };
  return { result: false, evidence: `${missing.join(', ')} ${missing.length === 1 ? 'does' : 'do'} not exist` };
}

/**
 * `f:FILES` (one of them exists as a regular file) and `f:FILES -> PATTERN` (a
 * line of one of them matches). As in Wazuh, a file that is missing or cannot
 * be read makes the content rule not applicable unless another file matches.
 */
export async function evaluateFileRule(rule: ScaFileRule, ctx: RuleContext): Promise<RuleOutcome> {
  const pattern = rule.content;
  if (pattern === undefined) return existence(rule, ctx);
  let invalid: string | undefined;
  const misses: string[] = [];
  for (const path of await expandPaths(ctx, rule.paths)) {
    const read = await readText(ctx, path);
    if (read.kind === 'missing') invalid ??= `${path} does not exist`;
    else if (read.kind === 'error') invalid ??= read.reason;
    else {
      const lines = splitLines(read.text);
      const match = matchContent(pattern, lines);
      const evidence = describeMatch(pattern, match, lines, path, true);
      if (match.matched) return { result: true, evidence };
      misses.push(evidence);
    }
  }
  if (invalid !== undefined) return { result: 'not_applicable', evidence: invalid };
  return { result: false, evidence: misses.join('; ') };
}
