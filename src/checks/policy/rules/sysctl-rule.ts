import { z } from 'zod';
import { SYSCTL_CONF, persistedSysctl, persistedValue, procSysPath } from './sysctl-conf.js';
import { readText } from './read-text.js';
import { type RuleOutcome, defineRule } from './types.js';
import { ScalarSchema, hasExpectation, meetsExpectation } from './value-compare.js';

export const SysctlRuleSchema = z
  .strictObject({
    sysctl: z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.\/-]*$/, 'must be a kernel parameter such as net.ipv4.ip_forward'),
    equals: ScalarSchema.optional(),
    in: z.array(ScalarSchema).min(1).optional(),
    min: z.number().optional(),
    max: z.number().optional(),
    /** Also require the same setting in sysctl.conf or sysctl.d, so it survives a reboot. */
    persisted: z.boolean().optional(),
    /** The result when the kernel has no such parameter (default false). */
    if_missing: z.boolean().optional(),
  })
  .refine(hasExpectation, { message: 'give one of equals, in, min or max' });
export type SysctlRule = z.infer<typeof SysctlRuleSchema>;

/** A kernel parameter's running value (/proc/sys) and, with `persisted`, its configured one. */
export const SYSCTL_RULE = defineRule<SysctlRule>({
  key: 'sysctl',
  schema: SysctlRuleSchema,
  async evaluate(rule, ctx): Promise<RuleOutcome> {
    const path = procSysPath(rule.sysctl);
    const running = await readText(ctx, path);
    if (running.kind === 'error') return { result: 'not_applicable', evidence: running.reason };
    if (running.kind === 'missing') return { result: rule.if_missing ?? false, evidence: `${rule.sysctl}: ${path} does not exist` };
    const value = running.text.trim().replace(/\s+/g, ' ');
    const live = `${rule.sysctl} = ${value} (running)`;
    const liveCheck = meetsExpectation(value, rule);
    if (!liveCheck.ok) return { result: false, evidence: liveCheck.why === undefined ? live : `${live} (${liveCheck.why})` };
    if (!rule.persisted) return { result: true, evidence: live };

    const persisted = await persistedSysctl(ctx);
    const assignment = persistedValue(persisted, rule.sysctl);
    if (assignment === undefined) {
      if (persisted.errors.length > 0) return { result: 'not_applicable', evidence: `${live}; ${persisted.errors.join('; ')}` };
      return { result: false, evidence: `${live}; not persisted in ${SYSCTL_CONF} or sysctl.d` };
    }
    const where = `${assignment.file}:${assignment.line}: ${assignment.text}`;
    return { result: meetsExpectation(assignment.value, rule).ok, evidence: `${live}; ${where}` };
  },
});
