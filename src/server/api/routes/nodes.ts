import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { NodeListQuerySchema, NodeListSchema, NodeRefParamsSchema, NodeSchema } from '../../../protocol/api.js';
import type { ApiServices } from '../services.js';

export function registerNodeRoutes(app: FastifyInstance, services: ApiServices): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  api.get(
    '/v1/nodes',
    { config: { permission: { resource: 'nodes', verb: 'list' } }, schema: { querystring: NodeListQuerySchema, response: { 200: NodeListSchema } } },
    async (request) => ({
      nodes: await services.nodes.list({
        selector: request.query.selector,
        state: request.query.state,
        includeRemoved: request.query.includeRemoved === 'true',
      }),
    }),
  );
  api.get(
    '/v1/nodes/:node',
    { config: { permission: { resource: 'nodes', verb: 'read' } }, schema: { params: NodeRefParamsSchema, response: { 200: NodeSchema } } },
    async (request) => services.nodes.get(request.params.node),
  );
  api.delete(
    '/v1/nodes/:node',
    { config: { permission: { resource: 'nodes', verb: 'delete' } }, schema: { params: NodeRefParamsSchema, response: { 200: NodeSchema } } },
    async (request) => services.nodes.remove(request.params.node, request.principal?.name ?? 'unknown'),
  );
}
