import type { ScaCommandRule } from '../model.js';
import { COMMANDS_DISABLED, commandFailure, runCommandOnce } from '../rules/commands.js';
import { splitLines } from '../rules/read-text.js';
import type { RuleContext, RuleOutcome } from '../rules/types.js';
import { describeMatch, matchContent } from './match.js';

/**
 * `c:COMMAND -> PATTERN`: a line of the command's output (standard output,
 * then standard error, as Wazuh reads both) matches; `c:COMMAND` alone: the
 * command runs. Whatever its exit status, as in Wazuh: `dpkg-query -s x` exits
 * 1 for a package that is not installed and that is an answer, not a failure.
 */
export async function evaluateCommandRule(rule: ScaCommandRule, ctx: RuleContext): Promise<RuleOutcome> {
  const pending = runCommandOnce(ctx, rule.command);
  if (pending === undefined) return { result: 'not_applicable', evidence: COMMANDS_DISABLED };
  const result = await pending;
  const failure = commandFailure(rule.command, result);
  if (failure !== undefined) return { result: 'not_applicable', evidence: failure };
  const source = `\`${rule.command}\``;
  if (rule.content === undefined) return { result: true, evidence: `${source} exited with ${result.exitCode}` };
  const lines = [...splitLines(result.stdout), ...splitLines(result.stderr)];
  const match = matchContent(rule.content, lines);
  const evidence = describeMatch(rule.content, match, lines, source, false);
  return { result: match.matched, evidence: result.truncated && !match.matched ? `${evidence} (output truncated)` : evidence };
}
