import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { EventListQuerySchema, EventListSchema } from '../../../protocol/api.js';
import type { ApiServices } from '../services.js';
import { scopedNode } from './nodes.js';

export function registerEventRoutes(app: FastifyInstance, services: ApiServices): void {
  app.withTypeProvider<ZodTypeProvider>().get(
    '/v1/events',
    { config: { permission: { resource: 'events', verb: 'list' } }, schema: { querystring: EventListQuerySchema, response: { 200: EventListSchema } } },
    async (request) => {
      const q = request.query;
      const nodeId = q.node === undefined ? undefined : (await scopedNode(services, request, q.node, 'read')).id;
      // Without `after`, show the newest page rather than the oldest.
      const afterId = q.after ?? Math.max(0, (await services.events.lastId()) - q.limit);
      const abort = new AbortController();
      request.raw.once('close', () => abort.abort());
      const events = await services.events.listOrWait({ afterId, nodeId, type: q.type, limit: q.limit }, q.wait * 1000, abort.signal);
      // Events of nodes outside the caller's scope are left out, as the nodes themselves are.
      const readable = request.principal ? await services.access.nodeFilter(request.principal, 'nodes', 'read') : () => false;
      const labels = new Map<string, Record<string, string>>();
      for (const id of new Set(events.map((e) => e.nodeId).filter((id): id is string => id !== null))) {
        labels.set(id, await services.nodes.resolve(id).then((n) => n.labels, () => ({})));
      }
      const visible = events.filter((e) => e.nodeId === null || readable(labels.get(e.nodeId) ?? {}));
      return { events: visible, lastId: events.at(-1)?.id ?? afterId };
    },
  );
}
