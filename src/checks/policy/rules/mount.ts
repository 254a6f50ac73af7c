import { z } from 'zod';
import { defineRule } from './types.js';
import type { RuleContext, RuleOutcome } from './types.js';

export const MountRuleSchema = z.strictObject({
  mount: z.string().regex(/^\//, 'must be an absolute path'),
  /** Mount options that must all be present, such as nodev, nosuid, noexec. */
  options_include: z.array(z.string().min(1)).optional(),
  /** The result when nothing is mounted there (default false: the check asks for a separate mount). */
  if_missing: z.boolean().optional(),
});
export type MountRule = z.infer<typeof MountRuleSchema>;

/** Where the running mounts are listed, best first; fstab is only the configured state, for hosts without /proc. */
const LIVE_TABLES = ['/proc/self/mounts', '/proc/mounts'];
const FSTAB = '/etc/fstab';

interface MountEntry {
  source: string;
  line: number;
  text: string;
  point: string;
  options: string[];
}

/** The kernel and fstab write a space, tab, newline or backslash in a path as an octal escape (`\040`). */
function unescapeMountPath(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

function parseMountTable(source: string, text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const [, point, , options] = line.split(/\s+/);
    if (point === undefined || options === undefined) continue;
    out.push({ source, line: i + 1, text: line, point: unescapeMountPath(point), options: options.split(',') });
  }
  return out;
}

async function readMountTable(ctx: RuleContext): Promise<{ source: string; entries: MountEntry[] } | undefined> {
  for (const source of [...LIVE_TABLES, FSTAB]) {
    const text = await ctx.readFile(source);
    if (text !== undefined) return { source, entries: parseMountTable(source, text) };
  }
  return undefined;
}

function normalise(point: string): string {
  return point.length > 1 ? point.replace(/\/+$/, '') : point;
}

/**
 * The `mount` rule: whether a path is a mount point of its own and carries the
 * given options, from the running mount table (`/proc/self/mounts`), or from
 * `/etc/fstab` as the configured state when no `/proc` is readable.
 */
export const MOUNT_RULE = defineRule({
  key: 'mount',
  schema: MountRuleSchema,
  async evaluate(rule, ctx): Promise<RuleOutcome> {
    const table = await readMountTable(ctx);
    if (table === undefined) return { result: 'not_applicable', evidence: `no mount table (${[...LIVE_TABLES, FSTAB].join(', ')})` };
    const point = normalise(rule.mount);
    // Mounts stack: the last one on a path is the one in effect.
    const entry = table.entries.filter((e) => normalise(e.point) === point).at(-1);
    if (entry === undefined) return { result: rule.if_missing ?? false, evidence: `${point} is not a separate mount (${table.source})` };
    const at = `${entry.source}:${entry.line}: ${entry.text}`;
    const missing = (rule.options_include ?? []).filter((option) => !entry.options.includes(option));
    if (missing.length > 0) return { result: false, evidence: `missing ${missing.join(', ')}: ${at}` };
    return { result: true, evidence: at };
  },
});
