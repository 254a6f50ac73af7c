import type { AnyRuleType } from './types.js';

/** Typed rules over files, key-value configuration, sysctl, packages and commands. */
export const CORE_RULES: readonly AnyRuleType[] = [];
