import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { BulwarkError } from '../../../core/errors.js';
import {
  SecretDeleteQuerySchema,
  SecretListQuerySchema,
  SecretListSchema,
  SecretPathParamsSchema,
  SecretPutBodySchema,
  SecretReadQuerySchema,
  SecretRemovedSchema,
  SecretRollbackBodySchema,
  SecretValueSchema,
  SecretVersionsSchema,
  SecretWrittenSchema,
} from '../../../protocol/secrets.js';
import { checkSecretPath, quotePath } from '../../../secrets/path.js';
import { decodeSecretValue, encodeSecretValue } from '../../../secrets/value.js';
import type { Principal } from '../../access-service.js';
import type { ApiServices } from '../services.js';

type SecretVerb = 'list' | 'read' | 'write' | 'delete';

function caller(request: FastifyRequest): Principal {
  if (!request.principal) throw new BulwarkError('UNAUTHENTICATED', 'log in first');
  return request.principal;
}

/**
 * The secret routes. The path is the rest of the URL, so it keeps its slashes:
 *
 * - `GET    /v1/secrets?prefix=P`               list      (only paths the caller may list)
 * - `GET    /v1/secrets/data/PATH?version=N`    read      the value, base64
 * - `PUT    /v1/secrets/data/PATH`              write     `{value, maxVersions?}` → the new version
 * - `DELETE /v1/secrets/data/PATH?version=N&destroy=true`  delete
 * - `GET    /v1/secrets/versions/PATH`          list      metadata of every kept version
 * - `POST   /v1/secrets/rollback/PATH`          write     `{version}` → a new version with that value
 *
 * Path scope (`paths` in role rules) is decided from the path alone, before the
 * secret is looked at. A path the caller may not read answers 404 exactly like
 * a missing secret; a change the caller may not make answers 403 whether or not
 * the secret exists, so neither reveals existence.
 *
 * Values never reach the audit log: the guard records the URL (the path) and
 * the status, and each route adds one entry with the path and version only.
 */
export function registerSecretRoutes(app: FastifyInstance, services: ApiServices): void {
  void app.register(async (scoped) => {
    // Fastify's own JSON parser puts an excerpt of a malformed body in its error message; here the body holds a secret.
    scoped.removeContentTypeParser('application/json');
    scoped.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
      try {
        done(null, JSON.parse(body as string) as unknown);
      } catch {
        done(new BulwarkError('BAD_REQUEST', 'the request body is not valid JSON'), undefined);
      }
    });
    routes(scoped, services);
  });
}

function routes(app: FastifyInstance, services: ApiServices): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const secrets = services.secrets;

  const audit = async (request: FastifyRequest, action: string, path: string, decision: 'allow' | 'deny', details: Record<string, unknown>): Promise<void> => {
    await services.audit.append({
      actor: caller(request).actor,
      action: `secrets.${action}`,
      resource: `secrets/${path}`,
      decision,
      source: request.ip,
      requestId: request.id,
      outcome: decision === 'allow' ? 'success' : 'failure',
      details: { path, ...details },
    });
  };

  /** The valid path of the request, once the caller's roles allow `verb` on it (404 or 403 otherwise, see above). */
  const scopedPath = async (request: FastifyRequest, raw: string, verb: SecretVerb): Promise<string> => {
    const path = checkSecretPath(raw);
    const decision = await services.access.decide(caller(request), { resource: 'secrets', verb, path });
    if (decision.allowed) return path;
    await audit(request, verb, path, 'deny', { errorCode: verb === 'read' || verb === 'list' ? 'NOT_FOUND' : 'FORBIDDEN' });
    if (verb === 'read' || verb === 'list') throw new BulwarkError('NOT_FOUND', `no secret ${quotePath(path)}; list secrets with \`bulwark secret ls\``);
    throw new BulwarkError('FORBIDDEN', `your roles (${caller(request).roles.join(', ')}) do not allow ${verb} on secret ${quotePath(path)}: ${decision.explanation}`);
  };

  api.get(
    '/v1/secrets',
    { config: { permission: { resource: 'secrets', verb: 'list' } }, schema: { querystring: SecretListQuerySchema, response: { 200: SecretListSchema } } },
    async (request) => {
      const visible = await services.access.pathFilter(caller(request), 'secrets', 'list');
      return { secrets: await secrets.list({ visible, ...(request.query.prefix === undefined ? {} : { prefix: request.query.prefix }) }) };
    },
  );

  api.get(
    '/v1/secrets/data/*',
    { config: { permission: { resource: 'secrets', verb: 'read' } }, schema: { params: SecretPathParamsSchema, querystring: SecretReadQuerySchema, response: { 200: SecretValueSchema } } },
    async (request, reply) => {
      const path = await scopedPath(request, request.params['*'], 'read');
      const found = await secrets.get(path, request.query.version);
      try {
        // Recorded before the value leaves: a read that cannot be audited is not answered.
        await audit(request, 'read', path, 'allow', { version: found.version });
        void reply.header('cache-control', 'no-store');
        return { path, version: found.version, value: encodeSecretValue(found.value), createdBy: found.createdBy, createdAt: found.createdAt };
      } finally {
        found.value.fill(0);
      }
    },
  );

  api.put(
    '/v1/secrets/data/*',
    { config: { permission: { resource: 'secrets', verb: 'write' } }, schema: { params: SecretPathParamsSchema, body: SecretPutBodySchema, response: { 200: SecretWrittenSchema } } },
    async (request) => {
      const path = await scopedPath(request, request.params['*'], 'write');
      const value = decodeSecretValue(request.body.value);
      try {
        const written = await secrets.put(path, value, caller(request).actor, request.body.maxVersions === undefined ? {} : { maxVersions: request.body.maxVersions });
        await audit(request, 'write', path, 'allow', { version: written.version, maxVersions: written.maxVersions, removedVersions: written.removedVersions });
        return written;
      } finally {
        value.fill(0);
      }
    },
  );

  api.delete(
    '/v1/secrets/data/*',
    { config: { permission: { resource: 'secrets', verb: 'delete' } }, schema: { params: SecretPathParamsSchema, querystring: SecretDeleteQuerySchema, response: { 200: SecretRemovedSchema } } },
    async (request) => {
      const path = await scopedPath(request, request.params['*'], 'delete');
      const destroy = request.query.destroy === 'true';
      const removed = await secrets.remove(path, { destroy, ...(request.query.version === undefined ? {} : { version: request.query.version }) }, caller(request).actor);
      await audit(request, destroy ? 'destroy' : 'delete', path, 'allow', { version: removed.version.version, changed: removed.changed });
      return removed;
    },
  );

  api.get(
    '/v1/secrets/versions/*',
    { config: { permission: { resource: 'secrets', verb: 'list' } }, schema: { params: SecretPathParamsSchema, response: { 200: SecretVersionsSchema } } },
    async (request) => secrets.versions(await scopedPath(request, request.params['*'], 'list')),
  );

  api.post(
    '/v1/secrets/rollback/*',
    { config: { permission: { resource: 'secrets', verb: 'write' } }, schema: { params: SecretPathParamsSchema, body: SecretRollbackBodySchema, response: { 200: SecretWrittenSchema } } },
    async (request) => {
      const path = await scopedPath(request, request.params['*'], 'write');
      const { from, ...written } = await secrets.rollback(path, request.body.version, caller(request).actor);
      await audit(request, 'rollback', path, 'allow', { version: written.version, from, removedVersions: written.removedVersions });
      return written;
    },
  );
}
