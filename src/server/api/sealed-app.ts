import { fastify, LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { BulwarkError, errorBody } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { detachedHandler, detachedServer, type RequestHandler } from '../listener.js';
import { mapError, requireRoutePermissions } from './app.js';
import type { RouteEntry } from './permissions.js';
import { registerUnsealRoutes } from './routes/keyring.js';
import type { KeyringControl } from './services.js';

/**
 * What a sealed server answers: health, seal status and unseal. Everything else
 * is 503 SEALED, so clients and load balancers see why and what to do.
 */
export async function buildSealedApp(opts: {
  control: KeyringControl;
  logger: Logger;
}): Promise<{ app: FastifyInstance; handler: RequestHandler; routes: RouteEntry[] }> {
  const routes: RouteEntry[] = [];
  const app = fastify({
    loggerInstance: opts.logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 16 * 1024,
    serverFactory: detachedServer,
  }) as unknown as FastifyInstance;
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  requireRoutePermissions(app, routes);
  app.setErrorHandler((err: FastifyError, _request, reply) => {
    const mapped = mapError(err);
    const retry = mapped.details?.retryAfterMs;
    if (typeof retry === 'number') void reply.header('retry-after', String(Math.ceil(retry / 1000)));
    return reply.status(mapped.status).send(errorBody(mapped));
  });
  app.setNotFoundHandler((_request, reply) => reply.status(503).send(errorBody(new BulwarkError('SEALED', 'the server is sealed; run `bulwark unseal` (this server answers only /healthz, /readyz and unseal until then)'))));
  app.get('/healthz', { config: { permission: 'public' } }, async () => ({ status: 'ok', sealed: true }));
  app.get('/readyz', { config: { permission: 'public' } }, async (_request, reply) => reply.status(503).send({ status: 'unavailable', checks: { keyring: 'sealed' } }));
  registerUnsealRoutes(app, opts.control);
  await app.ready();
  return { app, handler: detachedHandler(app), routes };
}
