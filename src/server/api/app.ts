import { fastify, LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerFactory } from 'fastify';
import { fastifySwagger } from '@fastify/swagger';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { BulwarkError, errorBody, isBulwarkError, type ErrorCode } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { RouteEntry } from './permissions.js';
import { installGuard } from './guard.js';
import { findMalformedText } from '../../core/text.js';
import { randomUUID } from 'node:crypto';
import type { Clock } from '../../core/clock.js';
import { registerHealthRoutes } from './routes/health.js';
import { registerNodeRoutes } from './routes/nodes.js';
import { registerJoinTokenRoutes } from './routes/join-tokens.js';
import { registerEventRoutes } from './routes/events.js';
import { registerClusterRoutes } from './routes/cluster.js';
import { registerSessionRoutes } from './routes/session.js';
import { registerUserRoutes } from './routes/users.js';
import { registerApiTokenRoutes } from './routes/api-tokens.js';
import { registerRoleRoutes } from './routes/roles.js';
import { registerAuditRoutes } from './routes/audit.js';
import { registerSshRoutes } from './routes/ssh.js';
import { registerExecRoutes } from './routes/exec.js';
import { registerAuditRunRoutes } from './routes/audits.js';
import { registerPolicyRoutes } from './routes/policies.js';
import { registerSecretRoutes } from './routes/secrets.js';
import { registerSecretDeliveryRoutes } from './routes/secret-deliveries.js';
import { registerKeyringRoutes } from './routes/keyring.js';
import { registerBackupRoutes } from './routes/backups.js';
import type { ApiServices } from './services.js';

export const BODY_LIMIT = 256 * 1024;

export interface ApiAppOptions {
  services: ApiServices;
  clock: Clock;
  logger: Logger;
  version: string;
  https?: { cert: string; key: string; minVersion: 'TLSv1.2' | 'TLSv1.3'; ciphers?: string };
  /** Serve through a listener owned by the caller (see src/server/listener.ts) instead of the app's own. */
  serverFactory?: FastifyServerFactory;
}

export interface ApiApp {
  app: FastifyInstance;
  /** Every registered route with the permission it declared; tests walk this table. */
  routes: RouteEntry[];
}

/**
 * Makes every route registered on `app` from now on declare `config.permission`
 * (registration throws otherwise) and records it in `routes`. Exported so a test
 * can show a route without one is refused.
 */
export function requireRoutePermissions(app: FastifyInstance, routes: RouteEntry[]): void {
  app.addHook('onRoute', (route) => {
    const permission = route.config?.permission;
    if (permission === undefined) {
      throw new Error(`route ${String(route.method)} ${route.url} declares no permission; add config.permission`);
    }
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) routes.push({ method, url: route.url, permission });
  });
}

/**
 * Builds the operator API without listening, so tests can `inject()` requests
 * and the CLI decides where it listens.
 */
export async function buildApiApp(options: ApiAppOptions): Promise<ApiApp> {
  const routes: RouteEntry[] = [];
  // One instance type for HTTP (tests) and HTTPS (listening), so routes register alike on both.
  const base = fastify({
    loggerInstance: options.logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT,
    // Request ids go into the audit log: they must be unique across restarts and replicas.
    genReqId: () => randomUUID(),
    // Node names are host names, up to 253 characters; the default limit is 100.
    routerOptions: { maxParamLength: 256 },
    // Errors raised before routing (a malformed URL, an over-long parameter) get the one error shape too.
    frameworkErrors: (err: FastifyError, _request: FastifyRequest, reply: FastifyReply) => {
      const message = err.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 'a path parameter is longer than 256 characters' : `the request URL is malformed: ${err.message}`;
      void reply.status(400).send(errorBody(new BulwarkError('BAD_REQUEST', message)));
    },
    ...(options.https ? { https: options.https } : {}),
    ...(options.serverFactory ? { serverFactory: options.serverFactory } : {}),
  }) as unknown as FastifyInstance;
  const app = base.withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  requireRoutePermissions(base, routes);

  // Text that is not well-formed Unicode cannot be stored, hashed into the audit
  // log or printed faithfully: refused before any route sees it.
  app.addHook('preValidation', async (request) => {
    for (const [part, value] of [['body', request.body], ['query', request.query], ['params', request.params]] as const) {
      const where = findMalformedText(value);
      if (where !== undefined) throw new BulwarkError('BAD_REQUEST', `${part} ${where}: text is not well-formed Unicode`);
    }
  });

  installGuard(base, { identity: options.services.identity, access: options.services.access, audit: options.services.audit, clock: options.clock });

  app.setErrorHandler((err: FastifyError, request, reply) => {
    const mapped = mapError(err);
    if (mapped.code === 'INTERNAL') request.log.error({ err }, 'request failed');
    const retry = mapped.details?.retryAfterMs;
    if (typeof retry === 'number') void reply.header('retry-after', String(Math.ceil(retry / 1000)));
    return reply.status(mapped.status).send(errorBody(mapped));
  });
  app.setNotFoundHandler((request, reply) => {
    return reply.status(404).send(errorBody(new BulwarkError('NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0] ?? ''}`)));
  });

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Bulwark API', version: options.version, description: 'Operator API of the Bulwark control plane.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
  });

  registerHealthRoutes(base, options.services);
  registerClusterRoutes(base, options.services);
  registerNodeRoutes(base, options.services);
  registerJoinTokenRoutes(base, options.services);
  registerEventRoutes(base, options.services);
  registerSessionRoutes(base, options.services);
  registerUserRoutes(base, options.services);
  registerApiTokenRoutes(base, options.services);
  registerRoleRoutes(base, options.services);
  registerAuditRoutes(base, options.services);
  registerSshRoutes(base, options.services);
  registerExecRoutes(base, options.services);
  registerAuditRunRoutes(base, options.services);
  registerPolicyRoutes(base, options.services);
  registerSecretRoutes(base, options.services);
  registerSecretDeliveryRoutes(base, options.services);
  registerKeyringRoutes(base, options.services);
  registerBackupRoutes(base, options.services);
  app.get('/v1/openapi.json', { config: { permission: 'public' }, schema: { hide: true } }, async () => app.swagger());

  await app.ready();
  return { app: base, routes };
}

/** One place turns any failure into a status and `{error:{code,message}}`; nothing unexpected leaks. */
export function mapError(err: FastifyError): BulwarkError {
  if (isBulwarkError(err)) return err;
  if (err.validation) {
    const first = err.validation[0];
    const where = first?.instancePath ? `${err.validationContext ?? 'body'}${first.instancePath.replace(/\//g, '.')}` : (err.validationContext ?? 'request');
    return new BulwarkError('BAD_REQUEST', `${where}: ${first?.message ?? 'invalid'}`);
  }
  const status = err.statusCode ?? 500;
  if (status === 413) return new BulwarkError('PAYLOAD_TOO_LARGE', 'the request body is larger than this route accepts');
  if (status >= 400 && status < 500) {
    const code: ErrorCode = status === 404 ? 'NOT_FOUND' : status === 429 ? 'RATE_LIMITED' : 'BAD_REQUEST';
    return new BulwarkError(code, err.message);
  }
  return new BulwarkError('INTERNAL', 'internal error; the server log has the detail');
}
