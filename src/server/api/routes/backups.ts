import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { BulwarkError, isBulwarkError } from '../../../core/errors.js';
import {
  BACKUP_STREAM_CONTENT_TYPE,
  DrillInputSchema,
  DrillListQuerySchema,
  DrillListSchema,
  PolicyInputSchema,
  PolicyListSchema,
  PolicyNameParamsSchema,
  PolicyViewSchema,
  RestoreInputSchema,
  RunListQuerySchema,
  RunListSchema,
  RunNowInputSchema,
  StatusListSchema,
  StatusQuerySchema,
  type BackupStreamEvent,
} from '../../../protocol/backup.js';
import type { Principal } from '../../access-service.js';
import type { ApiServices } from '../services.js';

/** A quiet line this often while a long operation runs, so no proxy or client drops the connection. */
const WAITING_EVERY_MS = 10_000;

function caller(request: FastifyRequest): Principal {
  if (!request.principal) throw new BulwarkError('UNAUTHENTICATED', 'log in first');
  return request.principal;
}

function context(request: FastifyRequest): { source: string; requestId: string } {
  return { source: request.ip, requestId: request.id };
}

/**
 * Answers a long operation already started as NDJSON: `waiting` lines, then
 * its `result` or `error`. Anything refused before it started was thrown by
 * the service and answered as an ordinary JSON error.
 */
function streamOutcome(reply: FastifyReply, outcome: Promise<unknown>, log: FastifyRequest['log']): FastifyReply {
  const started = Date.now();
  let settled: BackupStreamEvent | undefined;
  const done = outcome.then(
    (result) => {
      settled = { type: 'result', result };
    },
    (err: unknown) => {
      if (!isBulwarkError(err)) log.error({ err }, 'a backup operation failed');
      const e = isBulwarkError(err) ? err : new BulwarkError('INTERNAL', 'internal error; the server log has the detail');
      settled = { type: 'error', code: e.code, message: e.message };
    },
  );
  async function* lines(): AsyncGenerator<string> {
    while (settled === undefined) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([done, new Promise<void>((resolve) => (timer = setTimeout(resolve, WAITING_EVERY_MS)))]);
      clearTimeout(timer);
      if (settled === undefined) yield `${JSON.stringify({ type: 'waiting', elapsedMs: Date.now() - started } satisfies BackupStreamEvent)}\n`;
    }
    yield `${JSON.stringify(settled)}\n`;
  }
  return reply.status(200).header('content-type', `${BACKUP_STREAM_CONTENT_TYPE}; charset=utf-8`).header('cache-control', 'no-store').send(Readable.from(lines(), { objectMode: false }));
}

/** Fleet backups: policies, status and history, and restores, drills and runs on the nodes. */
export function registerBackupRoutes(app: FastifyInstance, services: ApiServices): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const backups = services.backups;

  api.get('/v1/backups/policies', { config: { permission: { resource: 'backups', verb: 'list' } }, schema: { response: { 200: PolicyListSchema } } }, async (request) => ({
    policies: await backups.listPolicies(caller(request)),
  }));

  api.get(
    '/v1/backups/policies/:name',
    { config: { permission: { resource: 'backups', verb: 'read' } }, schema: { params: PolicyNameParamsSchema, response: { 200: PolicyViewSchema } } },
    async (request) => backups.getPolicy(caller(request), request.params.name),
  );

  api.put(
    '/v1/backups/policies/:name',
    { config: { permission: { resource: 'backups', verb: 'write' } }, schema: { params: PolicyNameParamsSchema, body: PolicyInputSchema, response: { 200: PolicyViewSchema, 201: PolicyViewSchema } } },
    async (request, reply) => {
      const { policy, created } = await backups.setPolicy(caller(request), request.params.name, request.body, context(request));
      return reply.status(created ? 201 : 200).send(policy);
    },
  );

  api.delete('/v1/backups/policies/:name', { config: { permission: { resource: 'backups', verb: 'delete' } }, schema: { params: PolicyNameParamsSchema } }, async (request, reply) => {
    await backups.removePolicy(caller(request), request.params.name, context(request));
    return reply.status(204).send();
  });

  api.post(
    '/v1/backups/policies/:name/run',
    { config: { permission: { resource: 'backups', verb: 'run' } }, schema: { params: PolicyNameParamsSchema, body: RunNowInputSchema } },
    async (request, reply) => {
      const { outcome } = await backups.runNow(caller(request), request.params.name, request.body, context(request));
      return streamOutcome(reply, outcome, request.log);
    },
  );

  api.get('/v1/backups/status', { config: { permission: { resource: 'backups', verb: 'list' } }, schema: { querystring: StatusQuerySchema, response: { 200: StatusListSchema } } }, async (request) =>
    backups.status(caller(request), {
      ...(request.query.selector === undefined ? {} : { selector: request.query.selector }),
      ...(request.query.policy === undefined ? {} : { policy: request.query.policy }),
    }),
  );

  api.get('/v1/backups/runs', { config: { permission: { resource: 'backups', verb: 'list' } }, schema: { querystring: RunListQuerySchema, response: { 200: RunListSchema } } }, async (request) => ({
    runs: await backups.runs(caller(request), {
      limit: request.query.limit,
      ...(request.query.node === undefined ? {} : { node: request.query.node }),
      ...(request.query.policy === undefined ? {} : { policy: request.query.policy }),
    }),
  }));

  api.post('/v1/backups/restore', { config: { permission: { resource: 'backups', verb: 'restore' } }, schema: { body: RestoreInputSchema } }, async (request, reply) => {
    const { outcome } = await backups.restore(caller(request), request.body, context(request));
    return streamOutcome(reply, outcome, request.log);
  });

  api.post('/v1/backups/drills', { config: { permission: { resource: 'backups', verb: 'drill' } }, schema: { body: DrillInputSchema } }, async (request, reply) => {
    const { outcome } = await backups.drill(caller(request), request.body, context(request));
    return streamOutcome(reply, outcome, request.log);
  });

  api.get('/v1/backups/drills', { config: { permission: { resource: 'backups', verb: 'list' } }, schema: { querystring: DrillListQuerySchema, response: { 200: DrillListSchema } } }, async (request) => ({
    drills: await backups.drills(caller(request), {
      limit: request.query.limit,
      ...(request.query.node === undefined ? {} : { node: request.query.node }),
      ...(request.query.policy === undefined ? {} : { policy: request.query.policy }),
    }),
  }));
}
