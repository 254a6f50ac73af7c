import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { BulwarkError } from '../../../core/errors.js';
import { SEVERITIES, severityRank, type Severity } from '../../../checks/model.js';
import { renderReport, reportFileExtension } from '../../../checks/report/index.js';
import {
  AuditResultListSchema,
  AuditRunDetailSchema,
  AuditRunListSchema,
  AuditRunRequestSchema,
  AuditRunStartedSchema,
  FindingListSchema,
  FindingQuerySchema,
  ReportQuerySchema,
  ScheduleBodySchema,
  ScheduleListSchema,
  ScheduleParamsSchema,
  ScheduleViewSchema,
} from '../../../protocol/checks.js';
import type { AuditRunRecord, NodeResultRecord } from '../../../store/audits.js';
import { countFindings, getRun, listFindings, listNodeResults, listRuns, latestResults, nodeHistory, runTargets } from '../../../store/audits.js';
import type { NodeView } from '../../../protocol/api.js';
import type { ApiServices } from '../services.js';
import { z } from 'zod';

/** Findings one report may hold: a report is built in memory, and a fleet's worth of passes is gigabytes. */
export const MAX_REPORT_FINDINGS = 500_000;

const CONTENT_TYPES = { json: 'application/json', sarif: 'application/sarif+json', junit: 'application/xml', html: 'text/html; charset=utf-8' } as const;

function caller(request: FastifyRequest) {
  if (!request.principal) throw new BulwarkError('UNAUTHENTICATED', 'log in first');
  return request.principal;
}

/** The nodes (not removed) the caller may `verb` audits on, optionally narrowed by a selector. */
async function scopedNodes(services: ApiServices, request: FastifyRequest, verb: string, selector?: string): Promise<NodeView[]> {
  const may = await services.access.nodeFilter(caller(request), 'audits', verb);
  return (await services.nodes.list({ selector: selector ?? '', includeRemoved: true })).filter((n) => may(n.labels));
}

function runView(run: AuditRunRecord) {
  return run;
}

function resultView(r: NodeResultRecord) {
  const { requestId: _request, dispatchedAt: _dispatched, ...view } = r;
  return view;
}

export function registerAuditRunRoutes(app: FastifyInstance, services: ApiServices): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const audits = services.audits;

  api.post(
    '/v1/audits/runs',
    { config: { permission: { resource: 'audits', verb: 'run' } }, schema: { body: AuditRunRequestSchema, response: { 202: AuditRunStartedSchema } } },
    async (request, reply) => {
      const { selector, timeoutSeconds, ...spec } = request.body;
      const principal = caller(request);
      const started = await audits.startRun({ actor: principal.actor, principal, selector, spec, timeoutSeconds, trigger: 'manual' });
      return reply.status(202).send({ run: runView(started.run), nodes: started.nodes });
    },
  );

  api.get(
    '/v1/audits/runs',
    { config: { permission: { resource: 'audits', verb: 'list' } }, schema: { querystring: z.object({ limit: z.coerce.number().int().min(1).max(1000).default(50) }), response: { 200: AuditRunListSchema } } },
    async (request) => {
      const visible = new Set((await scopedNodes(services, request, 'list')).map((n) => n.id));
      const runs = await listRuns(services.store.db, { limit: request.query.limit });
      const targets = await runTargets(services.store.db, runs.map((r) => r.id));
      // A run shows only through the nodes the caller may see, and counts only those.
      return {
        runs: runs.flatMap((run) => {
          const seen = (targets.get(run.id) ?? []).filter((id) => visible.has(id)).length;
          return seen === 0 ? [] : [{ ...runView(run), nodeCount: seen }];
        }),
      };
    },
  );

  api.get(
    '/v1/audits/runs/:id',
    { config: { permission: { resource: 'audits', verb: 'read' } }, schema: { params: z.object({ id: z.string().max(64) }), response: { 200: AuditRunDetailSchema } } },
    async (request) => {
      const run = await getRun(services.store.db, request.params.id);
      if (!run) throw new BulwarkError('NOT_FOUND', `no audit run "${request.params.id}"; list runs with \`bulwark audit runs\``);
      const visible = new Set((await scopedNodes(services, request, 'read')).map((n) => n.id));
      const results = (await listNodeResults(services.store.db, run.id)).filter((r) => visible.has(r.nodeId));
      if (results.length === 0) throw new BulwarkError('NOT_FOUND', `no audit run "${request.params.id}"; list runs with \`bulwark audit runs\``);
      return { run: { ...runView(run), nodeCount: results.length }, results: results.map(resultView) };
    },
  );

  api.get(
    '/v1/audits/results',
    { config: { permission: { resource: 'audits', verb: 'list' } }, schema: { querystring: z.object({ selector: z.string().max(1024).optional() }), response: { 200: AuditResultListSchema } } },
    async (request) => {
      const nodes = await scopedNodes(services, request, 'list', request.query.selector);
      return { results: (await latestResults(services.store.db, nodes.map((n) => n.id))).map(resultView) };
    },
  );

  api.get(
    '/v1/audits/nodes/:node/history',
    { config: { permission: { resource: 'audits', verb: 'read' } }, schema: { params: z.object({ node: z.string().max(256) }), querystring: z.object({ limit: z.coerce.number().int().min(1).max(1000).default(30) }), response: { 200: AuditResultListSchema } } },
    async (request) => {
      const visible = await services.access.nodeFilter(caller(request), 'audits', 'read');
      const node = await services.nodes.resolve(request.params.node, visible);
      return { results: (await nodeHistory(services.store.db, node.id, request.query.limit)).map(resultView) };
    },
  );

  api.get(
    '/v1/audits/findings',
    { config: { permission: { resource: 'audits', verb: 'list' } }, schema: { querystring: FindingQuerySchema, response: { 200: FindingListSchema } } },
    async (request) => {
      const q = request.query;
      let nodes = await scopedNodes(services, request, 'list', q.selector);
      if (q.node !== undefined) {
        const visible = await services.access.nodeFilter(caller(request), 'audits', 'list');
        const node = await services.nodes.resolve(q.node, visible);
        nodes = nodes.filter((n) => n.id === node.id);
      }
      const names = new Map(nodes.map((n) => [n.id, n.name]));
      const severities: Severity[] | undefined = q.minSeverity ? SEVERITIES.filter((s) => severityRank(s) >= severityRank(q.minSeverity as Severity)) : q.severity;
      const found = await listFindings(services.store.db, {
        nodeIds: [...names.keys()],
        ...(q.run !== undefined ? { runId: q.run } : {}),
        ...(severities ? { severities } : {}),
        ...(q.status ? { statuses: q.status } : {}),
        ...(q.kind ? { kinds: q.kind } : {}),
        limit: q.limit + 1,
      });
      const truncated = found.length > q.limit;
      const findings = found.slice(0, q.limit).map((f) => ({ ...f, nodeName: names.get(f.nodeId) ?? f.nodeId }));
      return { findings, truncated };
    },
  );

  api.get(
    '/v1/audits/report',
    { config: { permission: { resource: 'audits', verb: 'list' } }, schema: { querystring: ReportQuerySchema } },
    async (request, reply) => {
      const q = request.query;
      const nodes = await scopedNodes(services, request, 'list', q.selector);
      const size = await countFindings(services.store.db, nodes.map((n) => n.id), q.run);
      if (size > MAX_REPORT_FINDINGS) {
        throw new BulwarkError('BAD_REQUEST', `the report would hold ${size} findings, more than ${MAX_REPORT_FINDINGS}; narrow it with --selector (or report one run with --run)`);
      }
      const report = await audits.fleetReport({
        title: `${services.cluster.name} security audit`,
        nodeIds: nodes.map((n) => n.id),
        labels: new Map(nodes.map((n) => [n.id, n.labels])),
        ...(q.run !== undefined ? { runId: q.run } : {}),
      });
      return reply
        .header('content-type', CONTENT_TYPES[q.format])
        .header('content-disposition', `attachment; filename="bulwark-audit.${reportFileExtension(q.format)}"`)
        .send(renderReport(q.format, report));
    },
  );

  api.get('/v1/audits/schedules', { config: { permission: { resource: 'audits', verb: 'list' } }, schema: { response: { 200: ScheduleListSchema } } }, async (request) => ({
    schedules: await audits.listSchedules(caller(request)),
  }));
  api.put(
    '/v1/audits/schedules/:name',
    { config: { permission: { resource: 'audits', verb: 'schedule' } }, schema: { params: ScheduleParamsSchema, body: ScheduleBodySchema, response: { 200: ScheduleViewSchema } } },
    async (request) => {
      const { cron, selector, enabled, ...spec } = request.body;
      const name = request.params.name;
      if (!/^[a-z0-9][a-z0-9._-]{0,62}$/.test(name)) throw new BulwarkError('BAD_REQUEST', 'a schedule name is 1–63 lower-case letters, digits, ".", "_" or "-"');
      const principal = caller(request);
      return audits.setSchedule({ name, cron, selector, enabled, spec, actor: principal.actor, principal });
    },
  );
  api.delete('/v1/audits/schedules/:name', { config: { permission: { resource: 'audits', verb: 'schedule' } }, schema: { params: ScheduleParamsSchema } }, async (request, reply) => {
    await audits.deleteSchedule(request.params.name, caller(request));
    return reply.status(204).send();
  });
}
