import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ApiTokenListSchema, CreateApiTokenSchema, CreatedApiTokenSchema } from '../../../protocol/access.js';
import type { ApiTokenRecord } from '../../../store/api-tokens.js';
import type { ApiServices } from '../services.js';

function view(t: ApiTokenRecord) {
  return { id: t.id, name: t.name, role: t.role, createdAt: t.createdAt, expiresAt: t.expiresAt, lastUsedAt: t.lastUsedAt, revokedAt: t.revokedAt };
}

export function registerApiTokenRoutes(app: FastifyInstance, services: ApiServices): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  api.post(
    '/v1/api-tokens',
    { config: { permission: { resource: 'api-tokens', verb: 'create' } }, schema: { body: CreateApiTokenSchema, response: { 201: CreatedApiTokenSchema } } },
    async (request, reply) => {
      const { record, token } = await services.identity.createApiToken(request.principal, {
        name: request.body.name,
        role: request.body.role,
        ttlMs: request.body.ttlSeconds === undefined ? undefined : request.body.ttlSeconds * 1000,
      });
      return reply.status(201).send({ ...view(record), token });
    },
  );
  api.get('/v1/api-tokens', { config: { permission: { resource: 'api-tokens', verb: 'list' } }, schema: { response: { 200: ApiTokenListSchema } } }, async () => ({
    tokens: (await services.identity.listApiTokens()).map(view),
  }));
  api.delete(
    '/v1/api-tokens/:id',
    { config: { permission: { resource: 'api-tokens', verb: 'delete' } }, schema: { params: z.object({ id: z.string().min(1).max(64) }) } },
    async (request, reply) => {
      await services.identity.revokeApiToken(request.params.id);
      return reply.status(204).send();
    },
  );
}
