import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { NodeListQuerySchema, NodeListSchema, NodeRefParamsSchema, NodeSchema } from '../../../protocol/api.js';
import { BulwarkError } from '../../../core/errors.js';
import type { NodeRecord } from '../../../store/nodes.js';
import { nodeNotFound } from '../../node-service.js';
import type { ApiServices } from '../services.js';

/**
 * Resolves a node the caller may `verb`; one outside the caller's scope is
 * reported exactly like one that does not exist.
 */
export async function scopedNode(services: ApiServices, request: FastifyRequest, ref: string, verb: string): Promise<NodeRecord> {
  const principal = request.principal;
  if (!principal) throw new BulwarkError('UNAUTHENTICATED', 'log in first');
  const visible = await services.access.nodeFilter(principal, 'nodes', verb);
  const node = await services.nodes.resolve(ref, visible);
  if (!visible(node.labels)) throw nodeNotFound(ref);
  return node;
}

export function registerNodeRoutes(app: FastifyInstance, services: ApiServices): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  api.get(
    '/v1/nodes',
    { config: { permission: { resource: 'nodes', verb: 'list' } }, schema: { querystring: NodeListQuerySchema, response: { 200: NodeListSchema } } },
    async (request) => {
      const visible = request.principal ? await services.access.nodeFilter(request.principal, 'nodes', 'list') : () => false;
      const nodes = await services.nodes.list({
        selector: request.query.selector,
        state: request.query.state,
        includeRemoved: request.query.includeRemoved === 'true',
      });
      return { nodes: nodes.filter((n) => visible(n.labels)) };
    },
  );
  api.get(
    '/v1/nodes/:node',
    { config: { permission: { resource: 'nodes', verb: 'read' } }, schema: { params: NodeRefParamsSchema, response: { 200: NodeSchema } } },
    async (request) => services.nodes.view(await scopedNode(services, request, request.params.node, 'read')),
  );
  api.delete(
    '/v1/nodes/:node',
    { config: { permission: { resource: 'nodes', verb: 'delete' } }, schema: { params: NodeRefParamsSchema, response: { 200: NodeSchema } } },
    async (request) => {
      const node = await scopedNode(services, request, request.params.node, 'delete');
      return services.nodes.remove(node.id, request.principal?.actor ?? 'unknown');
    },
  );
}
