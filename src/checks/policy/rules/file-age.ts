import { z } from 'zod';
import { defineRule } from './types.js';
import type { RuleOutcome } from './types.js';

const DAY_MS = 86_400_000;

export const FileAgeRuleSchema = z.strictObject({
  file_age: z.string().regex(/^\//, 'must be an absolute path'),
  max_days: z.number().nonnegative(),
  /** The result when the file does not exist (default false: a stamp that is missing was never written). */
  if_missing: z.boolean().optional(),
});
export type FileAgeRule = z.infer<typeof FileAgeRuleSchema>;

/**
 * The `file_age` rule: the file (or directory) was modified within `max_days` of
 * the audit's clock, e.g. the package lists were refreshed recently. Symlinks are
 * followed inside the root.
 */
export const FILE_AGE_RULE = defineRule({
  key: 'file_age',
  schema: FileAgeRuleSchema,
  async evaluate(rule, ctx): Promise<RuleOutcome> {
    const stats = await ctx.stat(rule.file_age);
    if (stats === undefined) return { result: rule.if_missing ?? false, evidence: `${rule.file_age} not found` };
    const ageDays = (ctx.now - stats.mtimeMs) / DAY_MS;
    const evidence = `${rule.file_age} modified ${stats.mtime.toISOString()} (${Math.max(0, Math.floor(ageDays))} days before the audit)`;
    return { result: ageDays <= rule.max_days, evidence };
  },
});
