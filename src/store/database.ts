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

export interface Database {
  nodes: NodesTable;
  join_tokens: JoinTokensTable;
  api_tokens: ApiTokensTable;
  certificates: CertificatesTable;
  events: EventsTable;
  cluster_state: ClusterStateTable;
}
