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
  backup_policies: BackupPoliciesTable;
  backup_runs: BackupRunsTable;
  backup_status: BackupStatusTable;
  backup_drills: BackupDrillsTable;
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

/** A backup policy; `credential` is keyring ciphertext bound to (backup_policies, id, credential_version). */
export interface BackupPoliciesTable {
  id: string;
  name: string;
  selector: string;
  /** JSON string arrays. */
  paths: string;
  excludes: string;
  tags: string;
  schedule: string;
  repo: string;
  s3_endpoint: string | null;
  /** JSON retention policy, or null: no forget. */
  retention: string | null;
  prune: number;
  drill_schedule: string | null;
  drill_sample: number;
  max_age_ms: number;
  max_age_default: number;
  credential: string;
  credential_kind: string;
  credential_version: number;
  s3_keys: number;
  version: number;
  created_by: string;
  created_at: number;
  updated_by: string;
  updated_at: number;
}

export interface BackupRunsTable {
  id: string;
  node_id: string;
  policy_id: string;
  policy_name: string;
  /** The agent's id of the run (unique per node): a report sent twice is stored once. */
  run_id: string;
  trigger: string;
  state: string;
  snapshot_id: string | null;
  started_at: number;
  finished_at: number;
  /** JSON RunStats. */
  stats: string | null;
  forgotten: number | null;
  pruned: number | null;
  error_code: string | null;
  error_message: string | null;
  /** JSON string array. */
  notes: string;
  received_at: number;
}

/** Per node and policy: the last good backup and the last run, and whether `backup.missed` was raised since. */
export interface BackupStatusTable {
  node_id: string;
  policy_id: string;
  last_good_at: number | null;
  last_good_snapshot: string | null;
  last_run_at: number | null;
  last_run_state: string | null;
  last_error_code: string | null;
  last_error_message: string | null;
  missed_at: number | null;
}

export interface BackupDrillsTable {
  id: string;
  node_id: string;
  policy_id: string;
  policy_name: string;
  drill_id: string;
  trigger: string;
  state: string;
  requested_by: string | null;
  started_at: number;
  finished_at: number;
  snapshot_id: string | null;
  snapshot_time: number | null;
  files_in_snapshot: number;
  files_sampled: number;
  files_verified: number;
  files_failed: number;
  /** JSON [{path, reason}]. */
  failures: string;
  sample_bytes: number;
  total_bytes: number;
  restore_ms: number;
  estimated_rto_ms: number | null;
  rpo_ms: number | null;
  error_code: string | null;
  error_message: string | null;
  received_at: number;
}
