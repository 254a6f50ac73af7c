import { readFile } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer, type Server as HttpsServer, type ServerOptions as HttpsOptions } from 'node:https';
import { join } from 'node:path';
import type { FastifyInstance, FastifyServerFactory } from 'fastify';
import { BulwarkError } from '../core/errors.js';
import { writeFileAtomic } from '../core/fs.js';
import type { ListenerCertificate } from './pki-service.js';

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

const LISTENER_FILE = 'listener.pem';

/*
 * The API listener outlives the apps behind it: a sealed server answers with a
 * small app, the unsealed one with the full API, and sealing or unsealing swaps
 * them without closing the port. Fastify apps are built with a server factory
 * that hands out their request handler instead of a listening server.
 */
const handlers = new WeakMap<object, RequestHandler>();

/** A fastify `serverFactory`: the app gets a server that never listens; its handler is kept for `detachedHandler`. */
export const detachedServer: FastifyServerFactory = (handler) => {
  const placeholder = createHttpServer();
  handlers.set(placeholder, handler as RequestHandler);
  return placeholder;
};

export function detachedHandler(app: FastifyInstance): RequestHandler {
  const handler = handlers.get(app.server);
  if (!handler) throw new BulwarkError('INTERNAL', 'the app was not built with detachedServer');
  return handler;
}

export function createHttpsServer(options: HttpsOptions, onRequest: RequestHandler): HttpsServer {
  const server = createServer(options, onRequest);
  // The defaults a fastify server would have set: no request may hold a socket forever.
  server.requestTimeout = 120_000;
  server.headersTimeout = 60_000;
  server.keepAliveTimeout = 72_000;
  return server;
}

export function listenHttps(server: HttpsServer, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

export async function closeHttps(server: HttpsServer): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  await closed;
}

/**
 * The API listener's certificate and key, kept in the data directory so a server
 * that starts sealed (and so cannot use its CA) still presents a certificate its
 * clients trust. It is not a CA key: it lets its holder impersonate this server's
 * API only, which the file mode 0600 guards as it guards the data directory.
 */
export async function writeListenerCertificate(dataDir: string, cert: ListenerCertificate): Promise<void> {
  // One file, so the certificate and its key are replaced together.
  await writeFileAtomic(join(dataDir, LISTENER_FILE), `${JSON.stringify({ notAfter: cert.notAfter })}\n${cert.chainPem.trimEnd()}\n${cert.keyPem.trimEnd()}\n`, 0o600);
}

export async function readListenerCertificate(dataDir: string): Promise<ListenerCertificate> {
  const path = join(dataDir, LISTENER_FILE);
  try {
    const text = await readFile(path, 'utf8');
    const newline = text.indexOf('\n');
    const { notAfter } = JSON.parse(text.slice(0, newline)) as { notAfter: number };
    const certs = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/g) ?? [];
    const keyPem = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----\n/.exec(text)?.[0];
    const certPem = certs[0];
    if (!certPem || !keyPem || typeof notAfter !== 'number') throw new Error('incomplete');
    return { certPem, keyPem, chainPem: certs.join(''), notAfter };
  } catch {
    throw new BulwarkError(
      'NOT_INITIALISED',
      `the server starts sealed but its listener certificate ${path} is missing or damaged; it is written whenever the server runs unsealed (\`bulwark server init\` does)`,
    );
  }
}
