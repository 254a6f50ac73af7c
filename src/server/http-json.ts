import type { IncomingMessage, ServerResponse } from 'node:http';
import { BulwarkError, errorBody, isBulwarkError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';

/** Reads a JSON body of at most `limit` bytes; the limit is enforced while reading, not after. */
export async function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? '0');
  if (declared > limit) throw new BulwarkError('PAYLOAD_TOO_LARGE', `request body is larger than ${limit} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new BulwarkError('PAYLOAD_TOO_LARGE', `request body is larger than ${limit} bytes`);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new BulwarkError('BAD_REQUEST', 'request body is not valid JSON');
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** Maps any failure to `{error:{code,message}}`; unexpected ones are logged and never shown. */
export function sendError(res: ServerResponse, err: unknown, log: Logger): void {
  const known = isBulwarkError(err) ? err : undefined;
  if (!known) log.error({ err }, 'unexpected failure');
  const error = known ?? new BulwarkError('INTERNAL', 'internal error; the server log has the detail');
  const headers: Record<string, string> = {};
  const retry = error.details?.retryAfterMs;
  if (error.code === 'RATE_LIMITED' && typeof retry === 'number') headers['retry-after'] = String(Math.ceil(retry / 1000));
  if (!res.headersSent) sendJson(res, error.status, errorBody(error), headers);
  else res.destroy();
}
