import { z } from 'zod';
import { readConfigEntries } from './config-file.js';
import { type RuleOutcome, defineRule } from './types.js';
import { RegexOptionSchema, ScalarSchema, hasExpectation, meetsExpectation } from './value-compare.js';

export const ConfigRuleSchema = z
  .strictObject({
    config: z.string().regex(/^\//, 'must be an absolute path'),
    /** The keyword, compared without regard to case. */
    key: z.string().regex(/^[^\s=#]+$/, 'must be one keyword'),
    equals: ScalarSchema.optional(),
    not_equals: ScalarSchema.optional(),
    in: z.array(ScalarSchema).min(1).optional(),
    not_in: z.array(ScalarSchema).min(1).optional(),
    matches: RegexOptionSchema.optional(),
    min: z.number().optional(),
    max: z.number().optional(),
    /** The value the program uses when the key is absent. */
    default: ScalarSchema.optional(),
    /** true: the key must not be set; false: it must be set explicitly (the default does not count). */
    absent: z.boolean().optional(),
    /** Which occurrence counts: `first` (sshd, the default) or `last`. */
    match: z.enum(['first', 'last']).optional(),
    /** Follow `Include` lines, as sshd does. */
    include: z.boolean().optional(),
  })
  .refine((r) => hasExpectation(r) || r.absent !== undefined, { message: 'give one of equals, not_equals, in, not_in, matches, min, max or absent' })
  .refine((r) => r.absent !== true || !hasExpectation(r), { message: 'absent: true cannot be combined with a comparison' });
export type ConfigRule = z.infer<typeof ConfigRuleSchema>;

/** A keyword's value in a keyword-value file such as sshd_config or login.defs. */
export const CONFIG_RULE = defineRule<ConfigRule>({
  key: 'config',
  schema: ConfigRuleSchema,
  async evaluate(rule, ctx): Promise<RuleOutcome> {
    const read = await readConfigEntries(ctx, rule.config, rule.include ?? false);
    if (read.kind === 'error') return { result: 'not_applicable', evidence: read.reason };
    const key = rule.key.toLowerCase();
    const found = read.kind === 'entries' ? read.entries.filter((e) => e.key.toLowerCase() === key) : [];
    const entry = rule.match === 'last' ? found[found.length - 1] : found[0];
    if (entry !== undefined) {
      const evidence = `${entry.file}:${entry.line}: ${entry.text}`;
      if (rule.absent !== undefined) return { result: !rule.absent, evidence };
      const { ok, why } = meetsExpectation(entry.value, rule);
      return { result: ok, evidence: why === undefined ? evidence : `${evidence} (${why})` };
    }
    const notSet = read.kind === 'missing' ? `${rule.config} does not exist` : `${rule.key} not set in ${rule.config}`;
    if (rule.absent !== undefined) return { result: rule.absent, evidence: notSet };
    if (rule.default !== undefined) {
      const { ok, why } = meetsExpectation(String(rule.default), rule);
      const evidence = `${rule.key} not set; default ${String(rule.default)}`;
      return { result: ok, evidence: why === undefined ? evidence : `${evidence} (${why})` };
    }
    // Nothing to judge without the file or a known default; a present file that lacks the key fails.
    return { result: read.kind === 'missing' ? 'not_applicable' : false, evidence: notSet };
  },
});
