import { z } from 'zod';
import {
  AuditResultListSchema,
  AuditRunDetailSchema,
  AuditRunListSchema,
  AuditRunStartedSchema,
  FindingListSchema,
  PolicyAddedSchema,
  PolicyListSchema,
  ScheduleListSchema,
  ScheduleViewSchema,
  VulnDbImportedSchema,
  VulnDbStatsSchema,
  type AuditRunRequest,
  type AuditScheduleRequest,
} from '../protocol/checks.js';
import type { ApiClient } from './api-client.js';

export interface FindingFilter {
  node?: string;
  selector?: string;
  run?: string;
  severity?: string;
  minSeverity?: string;
  status?: string;
  kind?: string;
  limit?: number;
}

const enc = encodeURIComponent;

/** The audit, policy and advisory calls of the API, over an `ApiClient`. */
export class AuditsClient {
  constructor(private readonly api: ApiClient) {}

  startRun(body: Partial<AuditRunRequest>) {
    return this.api.call('POST', '/v1/audits/runs', AuditRunStartedSchema, { body });
  }

  run(id: string) {
    return this.api.call('GET', `/v1/audits/runs/${enc(id)}`, AuditRunDetailSchema);
  }

  runs(limit = 50) {
    return this.api.call('GET', '/v1/audits/runs', AuditRunListSchema, { query: { limit } });
  }

  results(selector?: string) {
    return this.api.call('GET', '/v1/audits/results', AuditResultListSchema, { query: { selector } });
  }

  history(node: string, limit = 30) {
    return this.api.call('GET', `/v1/audits/nodes/${enc(node)}/history`, AuditResultListSchema, { query: { limit } });
  }

  findings(filter: FindingFilter = {}) {
    return this.api.call('GET', '/v1/audits/findings', FindingListSchema, { query: { ...filter }, timeoutMs: 120_000 });
  }

  report(format: string, query: { selector?: string; run?: string } = {}) {
    return this.api.text('GET', '/v1/audits/report', { format, ...query });
  }

  schedules() {
    return this.api.call('GET', '/v1/audits/schedules', ScheduleListSchema);
  }

  setSchedule(body: AuditScheduleRequest | (Partial<AuditScheduleRequest> & { name: string; cron: string })) {
    const { name, ...rest } = body;
    return this.api.call('PUT', `/v1/audits/schedules/${enc(name)}`, ScheduleViewSchema, { body: rest });
  }

  async removeSchedule(name: string): Promise<void> {
    await this.api.call('DELETE', `/v1/audits/schedules/${enc(name)}`, z.unknown());
  }

  policies() {
    return this.api.call('GET', '/v1/policies', PolicyListSchema);
  }

  addPolicy(yaml: string, fileName: string) {
    return this.api.call('POST', '/v1/policies', PolicyAddedSchema, { body: { yaml, fileName } });
  }

  policyText(id: string) {
    return this.api.text('GET', `/v1/policies/${enc(id)}`);
  }

  async removePolicy(id: string): Promise<void> {
    await this.api.call('DELETE', `/v1/policies/${enc(id)}`, z.unknown());
  }

  importAdvisories(text: string, name: string) {
    return this.api.upload('/v1/vulndb/import', text, VulnDbImportedSchema, { name });
  }

  vulndb() {
    return this.api.call('GET', '/v1/vulndb', VulnDbStatsSchema);
  }
}
