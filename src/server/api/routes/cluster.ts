import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { ClusterInfoSchema } from '../../../protocol/api.js';
import type { ApiServices } from '../services.js';

export function registerClusterRoutes(app: FastifyInstance, services: ApiServices): void {
  app.withTypeProvider<ZodTypeProvider>().get(
    '/v1/cluster',
    { config: { permission: { resource: 'cluster', verb: 'read' } }, schema: { response: { 200: ClusterInfoSchema } } },
    async () => ({
      clusterName: services.cluster.name,
      caPin: services.cluster.caPin,
      caCertificate: services.pki.caCertPem,
      agentAddresses: services.cluster.agentAddresses(),
      version: services.cluster.version,
    }),
  );
}
