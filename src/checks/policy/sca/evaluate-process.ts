import { posix } from 'node:path';
import type { HostProcess } from '../../host.js';
import type { ScaProcessRule } from '../model.js';
import { memoize } from '../rules/context-memo.js';
import { errorReason } from '../rules/read-text.js';
import type { RuleContext, RuleOutcome } from '../rules/types.js';
import { matchItem } from './match.js';

/** `p:NAME` or `p:r:REGEX`: a running process whose name, command line or program file name matches. */
export async function evaluateProcessRule(rule: ScaProcessRule, ctx: RuleContext): Promise<RuleOutcome> {
  let processes: HostProcess[];
  try {
    processes = await memoize(ctx, 'processes', () => ctx.host.processes());
  } catch (err) {
    return { result: 'not_applicable', evidence: `could not list processes: ${errorReason(err)}` };
  }
  const found = processes.find((p) => {
    const program = posix.basename(p.cmdline.split(' ')[0] ?? '');
    return [p.name, p.cmdline, program].some((text) => text !== '' && matchItem(rule.process, text));
  });
  if (found === undefined) return { result: false, evidence: `no running process matches ${rule.process.text}` };
  return { result: true, evidence: `process ${found.pid} ${found.name} is running: ${found.cmdline}` };
}
