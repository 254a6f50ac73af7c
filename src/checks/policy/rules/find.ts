import type { Stats } from 'node:fs';
import { z } from 'zod';
import { memoize } from './context-memo.js';
import { listItems } from './evidence-list.js';
import { walkHostTree, type WalkSummary } from './host-tree-walk.js';
import { globToRegExp, matchesAnyGlob } from './path-glob.js';
import { defineRule } from './types.js';
import type { RuleType } from './types.js';

/** Entries a `find` rule visits before it gives up with not_applicable rather than run for minutes. */
export const FIND_MAX_ENTRIES = 1_000_000;

/** Permission bits worth remembering from a whole-tree walk: setuid, setgid, sticky, world-writable. */
const SPECIAL_BITS = 0o7002;

const hostPath = z.string().regex(/^\//, 'must be an absolute path');

function isRegExp(source: string): boolean {
  try {
    new RegExp(source);
    return true;
  } catch {
    return false;
  }
}

export const FindRuleSchema = z.strictObject({
  find: z.strictObject({
    under: z.array(hostPath).min(1),
    type: z.enum(['file', 'dir', 'any']).optional(),
    /** Octal permission bits of which any one being set makes a match: `'6000'` is SUID or SGID. */
    perm_any: z.string().regex(/^[0-7]{1,4}$/, 'must be octal permission bits such as 6000').optional(),
    world_writable: z.boolean().optional(),
    without_sticky: z.boolean().optional(),
    /** A regular expression tested against the entry's own name. */
    name: z.string().refine(isRegExp, 'must be a valid regular expression').optional(),
    max_depth: z.number().int().nonnegative().optional(),
    /** Stay on each start path's file system, like `find -xdev` (default true). */
    same_filesystem: z.boolean().optional(),
  }),
  /** Host paths or globs (`*`, `?`, `**`) that are expected and never count as matches. */
  allow: z.array(hostPath).optional(),
  expect: z.enum(['none', 'some']),
});
export type FindRule = z.infer<typeof FindRuleSchema>;

function entryMatcher(criteria: FindRule['find']): (name: string, stats: Stats) => boolean {
  const permBits = criteria.perm_any === undefined ? undefined : parseInt(criteria.perm_any, 8);
  const name = criteria.name === undefined ? undefined : new RegExp(criteria.name);
  return (entryName, stats) => {
    // A symlink's own mode is always 0777 and means nothing; what it points at is checked where it lives.
    if (stats.isSymbolicLink()) return false;
    if (criteria.type === 'file' && !stats.isFile()) return false;
    if (criteria.type === 'dir' && !stats.isDirectory()) return false;
    if (permBits !== undefined && (stats.mode & permBits) === 0) return false;
    if (criteria.world_writable !== undefined && ((stats.mode & 0o002) !== 0) !== criteria.world_writable) return false;
    if (criteria.without_sticky !== undefined && ((stats.mode & 0o1000) === 0) !== criteria.without_sticky) return false;
    return name === undefined || name.test(entryName);
  };
}

/**
 * Whether only entries with a special bit can match: then one walk per tree,
 * remembering just those entries, serves every such rule of an evaluation (the
 * SUID, SGID, world-writable file and directory checks walk `/` once, not four
 * times).
 */
function needsSpecialBit(criteria: FindRule['find']): boolean {
  const permBits = criteria.perm_any === undefined ? undefined : parseInt(criteria.perm_any, 8);
  return criteria.world_writable === true || (permBits !== undefined && permBits !== 0 && (permBits & ~SPECIAL_BITS) === 0);
}

interface Visited {
  path: string;
  stats: Stats;
}

function octalMode(stats: Stats): string {
  return (stats.mode & 0o7777).toString(8).padStart(4, '0');
}

/**
 * Builds the `find` rule: walks trees under the root (never following symlinks,
 * never entering /proc, /sys, /dev or /run) for entries with given permission
 * bits, type or name. `maxEntries` is a parameter so tests can reach the bound.
 */
export function createFindRule(maxEntries: number = FIND_MAX_ENTRIES): RuleType<FindRule> {
  return defineRule({
    key: 'find',
    schema: FindRuleSchema,
    async evaluate(rule, ctx) {
      const matches = entryMatcher(rule.find);
      const allow = (rule.allow ?? []).map(globToRegExp);
      const found: string[] = [];
      const where = rule.find.under.join(', ');
      const options = { maxDepth: rule.find.max_depth, maxEntries, sameFilesystem: rule.find.same_filesystem ?? true };
      const consider = (entry: Visited): void => {
        const name = entry.path.slice(entry.path.lastIndexOf('/') + 1);
        if (matches(name, entry.stats) && !matchesAnyGlob(entry.path, allow)) found.push(`${entry.path} (${octalMode(entry.stats)})`);
      };
      let walk: WalkSummary;
      if (needsSpecialBit(rule.find)) {
        const key = `find-special\0${rule.find.under.join('\0')}\0${String(options.maxDepth)}\0${String(options.sameFilesystem)}\0${maxEntries}`;
        const shared = await memoize(ctx, key, async () => {
          const special: Visited[] = [];
          const summary = await walkHostTree(ctx, rule.find.under, options, (entry) => {
            if ((entry.stats.mode & SPECIAL_BITS) !== 0) special.push({ path: entry.path, stats: entry.stats });
          });
          return { special, summary };
        });
        shared.special.forEach(consider);
        walk = shared.summary;
      } else {
        walk = await walkHostTree(ctx, rule.find.under, options, consider);
      }
      if (walk.truncated) {
        return { result: 'not_applicable', evidence: `too many entries under ${where}: stopped after ${maxEntries}` };
      }
      const unreadable = walk.unreadable.length === 0 ? '' : `; could not read ${listItems(walk.unreadable)}`;
      const evidence =
        found.length === 0
          ? `no match under ${where} (${walk.visited} entries checked)${unreadable}`
          : `${found.length} found under ${where}: ${listItems(found)}${unreadable}`;
      return { result: rule.expect === 'none' ? found.length === 0 : found.length > 0, evidence };
    },
  });
}

export const FIND_RULE = createFindRule();
