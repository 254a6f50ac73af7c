import type { EventLog } from '../event-log.js';
import type { JoinTokenService } from '../join-tokens.js';
import type { NodeService } from '../node-service.js';
import type { PkiService } from '../pki-service.js';

/** What the routes call; routes stay thin: validate, authorize, call, map errors. */
export interface ApiServices {
  nodes: NodeService;
  joinTokens: JoinTokenService;
  events: EventLog;
  pki: PkiService;
  cluster: { name: string; caPin: string; agentAddresses: () => string[]; version: string };
  /** Throws when the server cannot serve (database unreachable). */
  ready: () => Promise<void>;
}
