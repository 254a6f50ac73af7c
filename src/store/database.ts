import type { Generated } from 'kysely';
import type { NodeState } from '../protocol/api.js';

// Times are integer milliseconds since the epoch (bigint in PostgreSQL, parsed to
// number by the dialect). Label, fact and detail maps are JSON text, so one schema
// serves both databases.

export interface NodesTable {
  id: string;
  name: string;
  labels: string;
  state: NodeState;
  facts: string | null;
  facts_hash: string | null;
  cert_serial: string | null;
  cert_not_after: number | null;
  agent_version: string | null;
  protocol_version: number | null;
  join_token_id: string | null;
  joined_at: number;
  last_seen_at: number | null;
  state_changed_at: number;
  removed_at: number | null;
}

export interface JoinTokensTable {
  id: string;
  secret_hash: string;
  labels: string;
  uses_allowed: number;
  uses_count: number;
  expires_at: number;
  created_at: number;
  created_by: string;
  revoked_at: number | null;
  description: string | null;
}

export interface ApiTokensTable {
  id: string;
  secret_hash: string;
  name: string;
  role: string;
  created_at: number;
  expires_at: number | null;
  last_used_at: number | null;
  revoked_at: number | null;
  /** The user who minted it; null for the bootstrap token and tokens the server made. */
  created_by: string | null;
}

export interface CertificatesTable {
  serial: string;
  node_id: string;
  fingerprint: string;
  not_before: number;
  not_after: number;
  issued_at: number;
  revoked_at: number | null;
  revoke_reason: string | null;
}

export interface EventsTable {
  id: Generated<number>;
  time: number;
  type: string;
  node_id: string | null;
  details: string;
}

/** Small named values of the cluster: its name, CA certificate, keyring-sealed keys. */
export interface ClusterStateTable {
  key: string;
  value: string;
  updated_at: number;
}

export interface UsersTable {
  id: string;
  name: string;
  /** JSON array of role names. */
  roles: string;
  /** `scrypt$…` string carrying its own parameters, so they can be raised later. */
  password_hash: string;
  /** TOTP secret as keyring ciphertext; null until MFA is enrolled. */
  totp_secret: string | null;
  totp_algorithm: string | null;
  /** A replacement TOTP seed (keyring ciphertext) waiting for its first code. */
  totp_pending: string | null;
  /** Highest TOTP time step accepted, so a code is never accepted twice. */
  totp_last_step: number | null;
  mfa_enrolled_at: number | null;
  locked_at: number | null;
  failed_logins: number;
  created_at: number;
  updated_at: number;
  last_login_at: number | null;
}

export interface SessionsTable {
  id: string;
  secret_hash: string;
  user_id: string;
  created_at: number;
  expires_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
  source: string;
  mfa: number;
}

/** Custom roles (built-in ones live in code). `definition` is the role as JSON. */
export interface RolesTable {
  name: string;
  definition: string;
  created_at: number;
  updated_at: number;
}

export interface AuditEntriesTable {
  seq: number;
  time: number;
  actor: string;
  action: string;
  resource: string;
  decision: string;
  source: string;
  request_id: string;
  outcome: string;
  details: string;
  prev_hash: string;
  hash: string;
}

export interface AuditCheckpointsTable {
  seq: number;
  hash: string;
  signature: string;
  key_id: string;
  time: number;
}

export interface AuditRunsTable {
  id: string;
  /** `manual` or `schedule`. */
  trigger: string;
  schedule_id: string | null;
  requested_by: string;
  selector: string;
  /** JSON AuditSpec: packs, policies, inventory, TLS targets. */
  spec: string;
  /** `running` or `done`. */
  status: string;
  node_count: number;
  created_at: number;
  deadline_at: number;
  finished_at: number | null;
}

export interface AuditNodeResultsTable {
  run_id: string;
  node_id: string;
  node_name: string;
  /** Correlates the agent's answer; fresh per node and run. */
  request_id: string;
  /** `pending`, `done` or `failed`. */
  status: string;
  dispatched_at: number | null;
  started_at: number | null;
  finished_at: number | null;
  score: number | null;
  passed: number;
  failed: number;
  not_applicable: number;
  failed_by_severity: string;
  errors: string;
  failure_code: string | null;
  failure_message: string | null;
  /** JSON drift against the node's previous result; null for a first result. */
  drift: string | null;
}

export interface AuditFindingsTable {
  run_id: string;
  node_id: string;
  key: string;
  kind: string;
  rule_id: string;
  source: string;
  title: string;
  severity: string;
  status: string;
  evidence: string;
  location: string | null;
  /** JSON: rationale, remediation, references, compliance, details. */
  extra: string;
}

export interface AuditLatestTable {
  node_id: string;
  run_id: string;
  finished_at: number;
}

export interface AuditSchedulesTable {
  id: string;
  name: string;
  cron: string;
  selector: string;
  spec: string;
  enabled: number;
  created_by: string;
  created_at: number;
  updated_at: number;
  next_run_at: number;
  last_run_at: number | null;
  last_run_id: string | null;
}

export interface AuditPoliciesTable {
  id: string;
  name: string;
  format: string;
  text: string;
  check_count: number;
  created_by: string;
  created_at: number;
  updated_at: number;
}

export interface AdvisoriesTable {
  id: string;
  origin: string;
  /** JSON Advisory (normalised). */
  data: string;
  imported_at: number;
}

export interface AdvisoryPackagesTable {
  package: string;
  advisory_id: string;
}

export interface Database {
  nodes: NodesTable;
  join_tokens: JoinTokensTable;
  api_tokens: ApiTokensTable;
  certificates: CertificatesTable;
  events: EventsTable;
  cluster_state: ClusterStateTable;
  keyring_keys: KeyringKeysTable;
  secrets: SecretsTable;
  secret_versions: SecretVersionsTable;
  users: UsersTable;
  sessions: SessionsTable;
  roles: RolesTable;
  audit_entries: AuditEntriesTable;
  audit_checkpoints: AuditCheckpointsTable;
  audit_runs: AuditRunsTable;
  audit_node_results: AuditNodeResultsTable;
  audit_findings: AuditFindingsTable;
  audit_latest: AuditLatestTable;
  audit_schedules: AuditSchedulesTable;
  audit_policies: AuditPoliciesTable;
  advisories: AdvisoriesTable;
  advisory_packages: AdvisoryPackagesTable;
  secret_deliveries: SecretDeliveriesTable;
  secret_delivery_status: SecretDeliveryStatusTable;
}

/** One versioned secret: its newest version and how many versions it keeps. */
export interface SecretsTable {
  path: string;
  /** The newest version; versions are written with a compare-and-set on it. */
  current_version: number;
  max_versions: number;
  created_at: number;
  updated_at: number;
}

/** One version of a secret; `value` is keyring ciphertext, null once destroyed. */
export interface SecretVersionsTable {
  path: string;
  version: number;
  value: string | null;
  created_by: string;
  created_at: number;
  deleted_at: number | null;
  destroyed_at: number | null;
}

export interface KeyringKeysTable {
  version: number;
  sealed: string;
  state: string;
  encryptions: number;
  created_at: number;
  retired_at: number | null;
}

export interface SecretDeliveriesTable {
  id: string;
  path: string;
  selector: string;
  dest: string;
  mode: number;
  owner: string | null;
  grp: string | null;
  created_by: string;
  created_at: number;
  deleted_at: number | null;
}

export interface SecretDeliveryStatusTable {
  delivery_id: string;
  node_id: string;
  version: number;
  state: string;
  error: string | null;
  updated_at: number;
}
