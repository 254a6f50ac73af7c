import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { BulwarkError } from '../../../core/errors.js';
import { EXEC_CONTENT_TYPE, ExecRunRequestSchema, type ExecEvent } from '../../../protocol/exec.js';
import type { ApiServices } from '../services.js';

/**
 * `POST /v1/exec`: runs a command on the nodes a selector matches that the caller
 * may exec on, and streams the events as NDJSON. Anything that goes wrong before
 * the first event (bad body, no matching node) is an ordinary JSON error.
 */
export function registerExecRoutes(app: FastifyInstance, services: ApiServices): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  api.post(
    '/v1/exec',
    { config: { permission: { resource: 'nodes', verb: 'exec' } }, schema: { body: ExecRunRequestSchema } },
    async (request, reply) => {
      const principal = request.principal;
      if (!principal) throw new BulwarkError('UNAUTHENTICATED', 'log in first');
      const run = await services.exec.start({
        principal,
        selector: request.body.selector,
        argv: request.body.argv,
        timeoutMs: request.body.timeoutSeconds * 1000,
        source: request.ip,
        requestId: request.id,
      });
      const lines = Readable.from(ndjson(run), { objectMode: false });
      return reply.status(200).header('content-type', `${EXEC_CONTENT_TYPE}; charset=utf-8`).header('cache-control', 'no-store').send(lines);
    },
  );
}

async function* ndjson(events: AsyncIterable<ExecEvent>): AsyncGenerator<string> {
  for await (const event of events) yield `${JSON.stringify(event)}\n`;
}
