import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { HealthSchema } from '../../../protocol/api.js';
import type { ApiServices } from '../services.js';

export function registerHealthRoutes(app: FastifyInstance, services: ApiServices): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  api.get('/healthz', { config: { permission: 'public' }, schema: { response: { 200: HealthSchema } } }, async () => ({ status: 'ok' as const }));
  api.get('/readyz', { config: { permission: 'public' }, schema: { response: { 200: HealthSchema, 503: HealthSchema } } }, async (_request, reply) => {
    try {
      await services.ready();
      return { status: 'ok' as const, checks: { database: 'ok' } };
    } catch {
      return reply.status(503).send({ status: 'unavailable' as const, checks: { database: 'unreachable' } });
    }
  });
  api.get('/v1/pki/crl', { config: { permission: 'public' } }, async (_request, reply) => {
    return reply.type('application/pkix-crl').send(await services.pki.crlPem());
  });
}
