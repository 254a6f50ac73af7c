import type { CommandResult } from '../../host.js';
import { memoize } from './context-memo.js';
import type { RuleContext } from './types.js';

/** Why a command rule does not apply: the agent's own configuration, never the policy, allows commands. */
export const COMMANDS_DISABLED = 'command checks are disabled in the agent configuration';

/**
 * Runs a command once per evaluation (CIS policies ask `sshd -T` a dozen
 * times), or returns undefined when the host runs no commands.
 */
export function runCommandOnce(ctx: RuleContext, command: string): Promise<CommandResult> | undefined {
  const run = ctx.host.runCommand;
  if (run === undefined) return undefined;
  return memoize(ctx, `command:${command}`, () => run(command));
}

/** Why a command gave no usable result, or undefined when it ran to its end. */
export function commandFailure(command: string, result: CommandResult): string | undefined {
  if (result.timedOut) return `\`${command}\` timed out`;
  if (result.exitCode === null) return `\`${command}\` could not run${result.stderr.trim() === '' ? '' : `: ${result.stderr.trim().split('\n')[0]}`}`;
  return undefined;
}
