import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { EventListQuerySchema, EventListSchema } from '../../../protocol/api.js';
import type { ApiServices } from '../services.js';

export function registerEventRoutes(app: FastifyInstance, services: ApiServices): void {
  app.withTypeProvider<ZodTypeProvider>().get(
    '/v1/events',
    { config: { permission: { resource: 'events', verb: 'list' } }, schema: { querystring: EventListQuerySchema, response: { 200: EventListSchema } } },
    async (request) => {
      const q = request.query;
      const nodeId = q.node === undefined ? undefined : (await services.nodes.resolve(q.node)).id;
      // Without `after`, show the newest page rather than the oldest.
      const afterId = q.after ?? Math.max(0, (await services.events.lastId()) - q.limit);
      const abort = new AbortController();
      request.raw.once('close', () => abort.abort());
      const events = await services.events.listOrWait({ afterId, nodeId, type: q.type, limit: q.limit }, q.wait * 1000, abort.signal);
      return { events, lastId: events.at(-1)?.id ?? afterId };
    },
  );
}
