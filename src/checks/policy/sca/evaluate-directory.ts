import type { Stats } from 'node:fs';
import { posix } from 'node:path';
import type { ContentPattern, ScaDirectoryRule } from '../model.js';
import { expandGlob, hasGlob } from '../rules/expand-glob.js';
import { errorReason, readText, splitLines } from '../rules/read-text.js';
import type { RuleContext, RuleOutcome } from '../rules/types.js';
import { describeMatch, matchContent, matchItem } from './match.js';

// A rule over /usr or / would otherwise read the whole disk: past this it is not applicable.
const MAX_ENTRIES = 20_000;
const MAX_DEPTH = 32;

/** What a directory search has seen so far. */
class Search {
  found: string | undefined;
  invalid: string | undefined;
  readonly misses: string[] = [];
  seen = 0;

  constructor(
    readonly names: ContentPattern,
    readonly content: ContentPattern | undefined,
  ) {}
}

async function stat(ctx: RuleContext, path: string, search: Search, follow: boolean): Promise<Stats | undefined> {
  try {
    return await (follow ? ctx.stat(path) : ctx.lstat(path));
  } catch (err) {
    search.invalid ??= `could not stat ${path}: ${errorReason(err)}`;
    return undefined;
  }
}

/** A file whose name matched: found, or its content checked. */
async function candidate(ctx: RuleContext, path: string, search: Search): Promise<void> {
  if (search.content === undefined) {
    search.found = `${path} exists`;
    return;
  }
  const read = await readText(ctx, path);
  if (read.kind === 'missing') search.invalid ??= `${path} does not exist`;
  else if (read.kind === 'error') search.invalid ??= read.reason;
  else {
    const lines = splitLines(read.text);
    const match = matchContent(search.content, lines);
    const evidence = describeMatch(search.content, match, lines, path, true);
    if (match.matched) search.found = evidence;
    else search.misses.push(evidence);
  }
}

async function walk(ctx: RuleContext, dir: string, search: Search, depth: number): Promise<void> {
  let names: string[] | undefined;
  try {
    names = await ctx.listDir(dir);
  } catch (err) {
    search.invalid ??= `could not list ${dir}: ${errorReason(err)}`;
    return;
  }
  for (const name of names ?? []) {
    if (search.found !== undefined) return;
    if (++search.seen > MAX_ENTRIES) {
      search.invalid ??= `more than ${MAX_ENTRIES} entries to search`;
      return;
    }
    const path = posix.join(dir, name);
    // A denied entry is passed over, as the find walk does: the search did not name it.
    if (await ctx.isDenied(path)) continue;
    const st = await stat(ctx, path, search, false);
    if (st === undefined) continue;
    // Subdirectories are searched too, as Wazuh does; symlinked ones are not, so a loop cannot trap the walk.
    if (st.isDirectory()) {
      if (depth < MAX_DEPTH) await walk(ctx, path, search, depth + 1);
    } else if (matchItem(search.names, name)) await candidate(ctx, path, search);
  }
}

/** The directory part of a glob before its first wildcard: `/etc/x.d/*` → `/etc/x.d`. */
function globParent(pattern: string): string {
  const segments = pattern.split('/');
  const first = segments.findIndex((segment) => hasGlob(segment));
  return segments.slice(0, first).join('/') || '/';
}

async function existence(rule: ScaDirectoryRule, ctx: RuleContext): Promise<RuleOutcome> {
  const notes: string[] = [];
  const paths = (await Promise.all(rule.paths.map(async (p) => (hasGlob(p) ? expandGlob(ctx, p) : [p])))).flat();
  for (const path of paths) {
    let st: Stats | undefined;
    try {
      st = await ctx.stat(path);
    } catch (err) {
      return { result: 'not_applicable', evidence: `could not stat ${path}: ${errorReason(err)}` };
    }
    if (st?.isDirectory()) return { result: true, evidence: `${path} is a directory` };
    notes.push(st === undefined ? `${path} does not exist` : `${path} is not a directory`);
  }
  return { result: false, evidence: notes.join('; ') };
}

/**
 * `d:DIRS` (one is a directory), `d:DIRS -> NAME` (a file below one of them is
 * named so: `r:REGEX` or an exact name) and `d:DIRS -> NAME -> CONTENT` (such a
 * file has a matching line). A directory that is missing makes the search rule
 * not applicable unless another one decides, as in Wazuh. A glob in the
 * directory (`/etc/x.d/*`) takes the files it matches as candidates directly.
 */
export async function evaluateDirectoryRule(rule: ScaDirectoryRule, ctx: RuleContext): Promise<RuleOutcome> {
  if (rule.fileName === undefined) return existence(rule, ctx);
  const search = new Search(rule.fileName, rule.content);
  for (const pattern of rule.paths) {
    const fromGlob = hasGlob(pattern);
    const paths = fromGlob ? await expandGlob(ctx, pattern) : [pattern];
    // A glob that matches nothing in an existing directory simply finds nothing.
    if (paths.length === 0 && !(await stat(ctx, globParent(pattern), search, true))?.isDirectory()) search.invalid ??= `${globParent(pattern)} does not exist`;
    for (const path of paths) {
      const st = await stat(ctx, path, search, true);
      if (st?.isDirectory()) await walk(ctx, path, search, 0);
      else if (st === undefined) search.invalid ??= `${path} does not exist`;
      else if (!fromGlob) search.invalid ??= `${path} is not a directory`;
      else if (matchItem(search.names, posix.basename(path))) await candidate(ctx, path, search);
      if (search.found !== undefined) return { result: true, evidence: search.found };
    }
  }
  if (search.invalid !== undefined) return { result: 'not_applicable', evidence: search.invalid };
  if (search.content !== undefined && search.misses.length > 0) return { result: false, evidence: search.misses.join('; ') };
  return { result: false, evidence: `no file under ${rule.paths.join(', ')} matches ${rule.fileName.text}` };
}
