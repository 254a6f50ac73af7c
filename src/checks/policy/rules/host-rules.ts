import { ACCOUNTS_RULE } from './accounts.js';
import { CERTIFICATES_RULE } from './certificates.js';
import { FILE_AGE_RULE } from './file-age.js';
import { FIND_RULE } from './find.js';
import { KERNEL_MODULE_RULE } from './kernel-module.js';
import { LISTENING_RULE } from './listening.js';
import { MOUNT_RULE } from './mount.js';
import { SERVICE_RULE } from './service.js';
import type { AnyRuleType } from './types.js';

/** Typed rules over the wider host: file trees, accounts, mounts, kernel modules, services, certificates, sockets. */
export const HOST_RULES: readonly AnyRuleType[] = [
  FIND_RULE,
  ACCOUNTS_RULE,
  MOUNT_RULE,
  KERNEL_MODULE_RULE,
  SERVICE_RULE,
  CERTIFICATES_RULE,
  LISTENING_RULE,
  FILE_AGE_RULE,
];
