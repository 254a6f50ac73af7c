import { z } from 'zod';
import { splitCommandLine } from '../command-line.js';
import { toRegExp } from '../regex/compiled-regex.js';
import { translatePcre2 } from '../regex/pcre2.js';
import { COMMANDS_DISABLED, commandFailure, runCommandOnce } from './commands.js';
import { splitLines } from './read-text.js';
import { type RuleOutcome, defineRule } from './types.js';
import { RegexOptionSchema } from './value-compare.js';

export const CommandRuleSchema = z.strictObject({
  /** Run without a shell: argv split on blanks, quotes honoured. */
  command: z.string().superRefine((command, ctx) => {
    try {
      splitCommandLine(command);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
    }
  }),
  /** Required exit status; 0 when no other expectation is given. */
  exit_code: z.number().int().optional(),
  /** A line of standard output must match (PCRE2 syntax; ^ and $ are line anchors). */
  stdout_matches: RegexOptionSchema.optional(),
  /** No line of standard output may match. */
  stdout_not_matches: RegexOptionSchema.optional(),
});
export type CommandRule = z.infer<typeof CommandRuleSchema>;

function firstMatch(lines: string[], pattern: string): string | undefined {
  const regex = toRegExp(translatePcre2(pattern));
  return lines.find((line) => regex.test(line));
}

/**
 * A command's exit status and output. Runs only when the agent's configuration
 * allows command checks (the host then has `runCommand`); otherwise not applicable.
 */
export const COMMAND_RULE = defineRule<CommandRule>({
  key: 'command',
  schema: CommandRuleSchema,
  async evaluate(rule, ctx): Promise<RuleOutcome> {
    const pending = runCommandOnce(ctx, rule.command);
    if (pending === undefined) return { result: 'not_applicable', evidence: COMMANDS_DISABLED };
    const result = await pending;
    const failure = commandFailure(rule.command, result);
    if (failure !== undefined) return { result: 'not_applicable', evidence: failure };
    const cmd = `\`${rule.command}\``;
    const cut = result.truncated ? ' (output truncated)' : '';
    const expectedExit = rule.exit_code ?? (rule.stdout_matches === undefined && rule.stdout_not_matches === undefined ? 0 : undefined);
    if (expectedExit !== undefined && result.exitCode !== expectedExit) {
      return { result: false, evidence: `${cmd} exited with ${result.exitCode} (expected ${expectedExit})` };
    }
    const lines = splitLines(result.stdout);
    const evidence: string[] = [];
    if (rule.stdout_matches !== undefined) {
      const line = firstMatch(lines, rule.stdout_matches);
      if (line === undefined) return { result: false, evidence: `${cmd}: no output line matches ${rule.stdout_matches}${cut}` };
      evidence.push(`${cmd}: ${line.trim()}`);
    }
    if (rule.stdout_not_matches !== undefined) {
      const line = firstMatch(lines, rule.stdout_not_matches);
      if (line !== undefined) return { result: false, evidence: `${cmd}: ${line.trim()}` };
      evidence.push(`${cmd}: no output line matches ${rule.stdout_not_matches}${cut}`);
    }
    if (evidence.length === 0) evidence.push(`${cmd} exited with ${result.exitCode}`);
    return { result: true, evidence: evidence.join('; ') };
  },
});
