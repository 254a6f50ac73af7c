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
import type { SecretService } from '../secret-service.js';
import type { SecretDeliveryService } from '../secret-delivery-service.js';
import type { BackupService } from '../backup-service.js';
import type { Store } from '../../store/open.js';
import type { Clock } from '../../core/clock.js';
import type { KeyringStatus, SealStatus } from '../../protocol/keyring.js';
import type { SealChoice, SealMethod } from '../seal.js';

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
  secrets: SecretService;
  secretDeliveries: SecretDeliveryService;
  backups: BackupService;
  keyring: KeyringControl;
  store: Store;
  clock: Clock;
  cluster: { name: string; caPin: string; agentAddresses: () => string[]; version: string };
  /** Throws when the server cannot serve (database unreachable). */
  ready: () => Promise<void>;
}

/** What unsealing and key management ask of the server (the Server object itself). */
export interface KeyringControl {
  sealStatus(): SealStatus;
  unseal(input: UnsealInput): Promise<SealStatus>;
  seal(actor: string): Promise<void>;
  keyStatus(): Promise<KeyringStatus>;
  rotate(): Promise<number>;
  rekey(choice: SealChoice): Promise<{ method: SealMethod; shares?: string[] }>;
}

export interface UnsealInput {
  passphrase?: string;
  share?: string;
  reset?: boolean;
  /** The caller's address, for the audit entry written once unsealed. */
  source?: string;
}
