import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { NodeListQuerySchema, NodeListSchema, NodeRefParamsSchema, NodeSchema } from '../../../protocol/api.js';
import { BulwarkError } from '../../../core/errors.js';
import { NodeLabelsPatchSchema } from '../../../protocol/secret-delivery.js';
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
  api.patch(
    '/v1/nodes/:node/labels',
    { config: { permission: { resource: 'nodes', verb: 'update' } }, schema: { params: NodeRefParamsSchema, body: NodeLabelsPatchSchema, response: { 200: NodeSchema } } },
    async (request) => {
      const principal = request.principal;
      if (!principal) throw new BulwarkError('UNAUTHENTICATED', 'log in first');
      // Labels decide which rules apply to a node and which secrets it receives: a holder scoped by
      // labels could move a node into a delivery's selector, or into its own scope for exec. So only
      // a grant for every node may edit them (as for deliveries); deny rules with a selector still
      // hold, on the labels before and after. Decided before the node is looked at: it reveals nothing.
      const unscoped = await services.access.decide(principal, { resource: 'nodes', verb: 'update' });
      if (!unscoped.allowed) {
        throw new BulwarkError(
          'FORBIDDEN',
          'editing labels needs nodes: update on every node (a rule without a nodes selector): labels decide which secrets a node receives and which rules apply to it, so a grant scoped by labels could widen itself',
        );
      }
      const node = await scopedNode(services, request, request.params.node, 'update');
      const may = await services.access.nodeFilter(principal, 'nodes', 'update');
      return services.nodes.updateLabels(node.id, { set: request.body.set, remove: request.body.remove }, principal.actor, may);
    },
  );
}
