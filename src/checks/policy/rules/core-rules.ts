import { COMMAND_RULE } from './command-rule.js';
import { CONFIG_RULE } from './config-rule.js';
import { FILE_RULE } from './file-rule.js';
import { PACKAGE_RULE } from './package-rule.js';
import { SYSCTL_RULE } from './sysctl-rule.js';
import type { AnyRuleType } from './types.js';

/** Typed rules over files, key-value configuration, sysctl, packages and commands. */
export const CORE_RULES: readonly AnyRuleType[] = [FILE_RULE, CONFIG_RULE, SYSCTL_RULE, PACKAGE_RULE, COMMAND_RULE];
