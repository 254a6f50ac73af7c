import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { BulwarkError } from '../../../core/errors.js';
import {
  CreateSecretDeliverySchema,
  DeliveryIdParamsSchema,
  SecretDeliveryListQuerySchema,
  SecretDeliveryListSchema,
  SecretDeliveryViewSchema,
} from '../../../protocol/secret-delivery.js';
import type { Principal } from '../../access-service.js';
import type { ApiServices } from '../services.js';

function caller(request: FastifyRequest): Principal {
  if (!request.principal) throw new BulwarkError('UNAUTHENTICATED', 'log in first');
  return request.principal;
}

/** Secret deliveries: which secret goes to which nodes, where, and how each node is doing. */
export function registerSecretDeliveryRoutes(app: FastifyInstance, services: ApiServices): void {
  const api = app.withTypeProvider<ZodTypeProvider>();

  api.post(
    '/v1/secret-deliveries',
    { config: { permission: { resource: 'secrets', verb: 'deliver' } }, schema: { body: CreateSecretDeliverySchema, response: { 201: SecretDeliveryViewSchema } } },
    async (request, reply) => reply.status(201).send(await services.secretDeliveries.create(caller(request), request.body)),
  );

  api.get(
    '/v1/secret-deliveries',
    { config: { permission: { resource: 'secrets', verb: 'list' } }, schema: { querystring: SecretDeliveryListQuerySchema, response: { 200: SecretDeliveryListSchema } } },
    async (request) => ({
      deliveries: await services.secretDeliveries.list(caller(request), {
        ...(request.query.path === undefined ? {} : { path: request.query.path }),
        includeDeleted: request.query.all === 'true',
      }),
    }),
  );

  api.delete(
    '/v1/secret-deliveries/:id',
    { config: { permission: { resource: 'secrets', verb: 'deliver' } }, schema: { params: DeliveryIdParamsSchema } },
    async (request, reply) => {
      await services.secretDeliveries.remove(caller(request), request.params.id);
      return reply.status(204).send();
    },
  );
}
