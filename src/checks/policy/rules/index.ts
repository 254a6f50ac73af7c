import { CORE_RULES } from './core-rules.js';
import { HOST_RULES } from './host-rules.js';
import type { AnyRuleType } from './types.js';

/** Every typed rule of the native format, by its key property. */
export const RULE_TYPES: ReadonlyMap<string, AnyRuleType> = new Map([...CORE_RULES, ...HOST_RULES].map((r) => [r.key, r]));
