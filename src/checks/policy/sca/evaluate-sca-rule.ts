import type { ScaRule } from '../model.js';
import type { RuleContext, RuleOutcome } from '../rules/types.js';
import { evaluateCommandRule } from './evaluate-command.js';
import { evaluateDirectoryRule } from './evaluate-directory.js';
import { evaluateFileRule } from './evaluate-file.js';
import { evaluateProcessRule } from './evaluate-process.js';

/** One SCA rule's own result, before its `not`. */
export function evaluateScaRule(rule: ScaRule, ctx: RuleContext): Promise<RuleOutcome> {
  switch (rule.type) {
    case 'file':
      return evaluateFileRule(rule, ctx);
    case 'directory':
      return evaluateDirectoryRule(rule, ctx);
    case 'process':
      return evaluateProcessRule(rule, ctx);
    case 'command':
      return evaluateCommandRule(rule, ctx);
  }
}
