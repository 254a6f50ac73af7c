import type { AnyRuleType } from './types.js';

/** Typed rules over the wider host: file trees, accounts, mounts, kernel modules, services, certificates, sockets. */
export const HOST_RULES: readonly AnyRuleType[] = [];
