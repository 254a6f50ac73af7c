import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { AuditExportQuerySchema, AuditListQuerySchema, AuditListSchema, AuditVerifySchema } from '../../../protocol/audit.js';
import type { AuditLogService } from '../../audit-log-service.js';

const CONTENT_TYPES = { jsonl: 'application/x-ndjson; charset=utf-8', cef: 'text/plain; charset=utf-8' } as const;

export function registerAuditRoutes(app: FastifyInstance, services: { audit: AuditLogService }): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  api.get(
    '/v1/audit',
    { config: { permission: { resource: 'auditlog', verb: 'list' } }, schema: { querystring: AuditListQuerySchema, response: { 200: AuditListSchema } } },
    async (request) => ({ entries: await services.audit.list(request.query) }),
  );
  api.get(
    '/v1/audit/verify',
    { config: { permission: { resource: 'auditlog', verb: 'verify' } }, schema: { response: { 200: AuditVerifySchema } } },
    async () => ({ ...(await services.audit.verify()), keyId: services.audit.keyId }),
  );
  api.get(
    '/v1/audit/export',
    { config: { permission: { resource: 'auditlog', verb: 'export' } }, schema: { querystring: AuditExportQuerySchema } },
    async (request, reply) => {
      const { format } = request.query;
      // Streamed a page at a time: an export of millions of entries never sits in memory.
      // A read failure mid-stream aborts the response, which the client reports as an error.
      return reply
        .type(CONTENT_TYPES[format])
        .header('content-disposition', `attachment; filename="bulwark-audit.${format === 'cef' ? 'cef' : 'jsonl'}"`)
        .send(Readable.from(services.audit.exportLines(format)));
    },
  );
}
