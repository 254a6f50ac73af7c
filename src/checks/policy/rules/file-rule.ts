import type { Stats } from 'node:fs';
import { z } from 'zod';
import { idNames } from './id-names.js';
import { errorReason } from './read-text.js';
import { type RuleContext, type RuleOutcome, defineRule } from './types.js';

const Principal = z.union([z.string().min(1), z.number().int().nonnegative()]);
const Principals = z.union([Principal, z.array(Principal).min(1)]);

export const FileRuleSchema = z
  .strictObject({
    file: z.string().regex(/^\//, 'must be an absolute path'),
    /** Whether the path must exist (true) or must not (false). */
    exists: z.boolean().optional(),
    /** The most permissive mode allowed: any bit outside it fails, setuid, setgid and sticky included. */
    mode_max: z
      .string({ error: "must be a quoted octal mode such as '0640' (unquoted, 0640 is read as the number 640)" })
      .regex(/^0?[0-7]{3,4}$/, "must be an octal mode such as '0640'")
      .optional(),
    /** Allowed owners: names from the root's /etc/passwd, or numeric uids. */
    owner: Principals.optional(),
    /** Allowed groups: names from the root's /etc/group, or numeric gids. */
    group: Principals.optional(),
    /** The rule's result when the path does not exist (default false), unless `exists` says otherwise. */
    if_missing: z.boolean().optional(),
  })
  .refine((r) => r.exists !== false || (r.mode_max === undefined && r.owner === undefined && r.group === undefined), {
    message: 'exists: false cannot be combined with mode_max, owner or group',
  });
export type FileRule = z.infer<typeof FileRuleSchema>;

function octal(mode: number): string {
  return mode.toString(8).padStart(4, '0');
}

function allowed(id: number, name: string | undefined, list: z.infer<typeof Principals>): boolean {
  return (Array.isArray(list) ? list : [list]).some((entry) => String(entry) === String(id) || entry === name);
}

function listed(list: z.infer<typeof Principals>): string {
  return (Array.isArray(list) ? list : [list]).join(', ');
}

async function check(rule: FileRule, st: Stats, ctx: RuleContext): Promise<RuleOutcome> {
  if (rule.exists === false) return { result: false, evidence: `${rule.file} exists` };
  if (rule.mode_max === undefined && rule.owner === undefined && rule.group === undefined) return { result: true, evidence: `${rule.file} exists` };
  const names = await idNames(ctx);
  const mode = st.mode & 0o7777;
  const owner = names.users.get(st.uid);
  const group = names.groups.get(st.gid);
  const problems: string[] = [];
  if (rule.mode_max !== undefined) {
    const mask = parseInt(rule.mode_max, 8);
    if ((mode & ~mask) !== 0) problems.push(`${rule.file} mode ${octal(mode)} (allowed at most ${octal(mask)})`);
  }
  if (rule.owner !== undefined && !allowed(st.uid, owner, rule.owner)) problems.push(`${rule.file} owner ${owner ?? st.uid} (allowed: ${listed(rule.owner)})`);
  if (rule.group !== undefined && !allowed(st.gid, group, rule.group)) problems.push(`${rule.file} group ${group ?? st.gid} (allowed: ${listed(rule.group)})`);
  if (problems.length > 0) return { result: false, evidence: problems.join('; ') };
  return { result: true, evidence: `${rule.file} mode ${octal(mode)}, owner ${owner ?? st.uid}, group ${group ?? st.gid}` };
}

/** A path's existence, permissions and ownership (symlinks followed inside the root). */
export const FILE_RULE = defineRule<FileRule>({
  key: 'file',
  schema: FileRuleSchema,
  async evaluate(rule, ctx) {
    let st: Stats | undefined;
    try {
      st = await ctx.stat(rule.file);
    } catch (err) {
      return { result: 'not_applicable', evidence: `could not stat ${rule.file}: ${errorReason(err)}` };
    }
    if (st !== undefined) return check(rule, st, ctx);
    const evidence = `${rule.file} does not exist`;
    if (rule.exists !== undefined) return { result: !rule.exists, evidence };
    return { result: rule.if_missing ?? false, evidence };
  },
});
