import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { CreateJoinTokenSchema, CreatedJoinTokenSchema, JoinTokenListSchema, TokenIdParamsSchema, type JoinTokenView } from '../../../protocol/api.js';
import type { JoinTokenRecord } from '../../../store/join-tokens.js';
import type { ApiServices } from '../services.js';

function view(t: JoinTokenRecord): JoinTokenView {
  return {
    id: t.id,
    labels: t.labels,
    usesAllowed: t.usesAllowed,
    usesCount: t.usesCount,
    expiresAt: t.expiresAt,
    createdAt: t.createdAt,
    revokedAt: t.revokedAt,
    description: t.description,
  };
}

export function registerJoinTokenRoutes(app: FastifyInstance, services: ApiServices): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  api.post(
    '/v1/join-tokens',
    { config: { permission: { resource: 'join-tokens', verb: 'create' } }, schema: { body: CreateJoinTokenSchema, response: { 201: CreatedJoinTokenSchema } } },
    async (request, reply) => {
      const { record, token } = await services.joinTokens.create({
        ttlMs: request.body.ttlSeconds * 1000,
        uses: request.body.uses,
        labels: request.body.labels,
        description: request.body.description,
        createdBy: request.principal?.actor ?? 'unknown',
      });
      const server = services.cluster.agentAddresses()[0] ?? 'https://HOST:8444';
      const joinCommand = `bulwark agent up --server ${server} --token ${token} --ca-pin ${services.cluster.caPin}`;
      return reply.status(201).send({ ...view(record), token, caPin: services.cluster.caPin, joinCommand });
    },
  );
  api.get(
    '/v1/join-tokens',
    {
      config: { permission: { resource: 'join-tokens', verb: 'list' } },
      schema: { querystring: z.object({ all: z.enum(['true', 'false']).optional() }), response: { 200: JoinTokenListSchema } },
    },
    async (request) => ({ tokens: (await services.joinTokens.list(request.query.all === 'true')).map(view) }),
  );
  api.delete(
    '/v1/join-tokens/:id',
    { config: { permission: { resource: 'join-tokens', verb: 'delete' } }, schema: { params: TokenIdParamsSchema } },
    async (request, reply) => {
      await services.joinTokens.revoke(request.params.id);
      return reply.status(204).send();
    },
  );
}
