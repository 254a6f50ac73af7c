import type { EventLog } from '../event-log.js';
import type { JoinTokenService } from '../join-tokens.js';
import type { NodeService } from '../node-service.js';
import type { PkiService } from '../pki-service.js';
import type { IdentityService } from '../identity-service.js';
import type { AccessService } from '../access-service.js';
import type { AuditLogService } from '../audit-log-service.js';
import type { SshCaMaterial } from '../ssh-ca.js';
import type { ExecService } from '../exec-service.js';
import type { AuditService } from '../audit-service.js';
import type { Store } from '../../store/open.js';
import type { Clock } from '../../core/clock.js';

/** What the routes call; routes stay thin: validate, authorize, call, map errors. */
export interface ApiServices {
  nodes: NodeService;
  joinTokens: JoinTokenService;
  events: EventLog;
  pki: PkiService;
  identity: IdentityService;
  access: AccessService;
  audit: AuditLogService;
  sshCa: SshCaMaterial;
  exec: ExecService;
  audits: AuditService;
  store: Store;
  clock: Clock;
  cluster: { name: string; caPin: string; agentAddresses: () => string[]; version: string };
  /** Throws when the server cannot serve (database unreachable). */
  ready: () => Promise<void>;
}
