import { request, type RequestOptions } from 'node:https';
import type { IncomingMessage } from 'node:http';
import { BulwarkError, isErrorCode } from '../core/errors.js';
import { AuditListSchema, AuditVerifySchema, type AuditVerifyView } from '../protocol/audit.js';
import type { AuditEntryView } from '../protocol/audit.js';
import type { ApiClientOptions } from './api-client.js';

export type AuditListParams = {
  actor?: string;
  action?: string;
  since?: number;
  until?: number;
  after?: number;
  limit?: number;
};

/**
 * Client of the audit-log API (`/v1/audit…`). Kept apart from `ApiClient`
 * because an export is a stream of lines, not one JSON answer; it takes the same
 * options (server URL, token, cluster CA).
 */
export class AuditClient {
  constructor(private readonly options: ApiClientOptions) {}

  async list(params: AuditListParams = {}): Promise<AuditEntryView[]> {
    const res = await this.#open('/v1/audit', params);
    const parsed = AuditListSchema.safeParse(await readJson(res));
    if (!parsed.success) throw new BulwarkError('INTERNAL', "the server's audit list does not match this client's protocol version");
    return parsed.data.entries;
  }

  async verify(): Promise<AuditVerifyView> {
    // Verifying a large log reads every entry: allow it minutes, not seconds.
    const res = await this.#open('/v1/audit/verify', {}, 10 * 60_000);
    const parsed = AuditVerifySchema.safeParse(await readJson(res));
    if (!parsed.success) throw new BulwarkError('INTERNAL', "the server's verify answer does not match this client's protocol version");
    return parsed.data;
  }

  /** The export, line by line (without newlines), as the server streams it. */
  async *export(format: 'jsonl' | 'cef'): AsyncGenerator<string> {
    const res = await this.#open('/v1/audit/export', { format }, 10 * 60_000);
    res.setEncoding('utf8');
    let rest = '';
    try {
      for await (const chunk of res as AsyncIterable<string>) {
        const lines = (rest + chunk).split('\n');
        rest = lines.pop() ?? '';
        yield* lines;
      }
    } catch {
      // falls through to the check below: the server aborted the stream
    }
    if (!res.complete) throw new BulwarkError('UNREACHABLE', 'the export stream ended early; the output is incomplete');
    if (rest !== '') yield rest;
  }

  /** Sends a GET and resolves with a 2xx response; an error answer becomes its BulwarkError. */
  #open(path: string, query: Record<string, string | number | undefined>, timeoutMs = this.options.timeoutMs ?? 15_000): Promise<IncomingMessage> {
    const url = new URL(path, this.options.baseUrl);
    for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, String(v));
    const opts: RequestOptions = {
      method: 'GET',
      ca: this.options.caPem,
      timeout: timeoutMs,
      headers: { accept: 'application/json', ...(this.options.token ? { authorization: `Bearer ${this.options.token}` } : {}) },
    };
    return new Promise((resolve, reject) => {
      const req = request(url, opts, (res) => {
        const status = res.statusCode ?? 0;
        if (status < 400) return resolve(res);
        readJson(res).then(
          (json) => {
            const error = (json as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
            const code = isErrorCode(error?.code) ? error.code : status >= 500 ? 'INTERNAL' : 'BAD_REQUEST';
            reject(new BulwarkError(code, typeof error?.message === 'string' ? error.message : `HTTP ${status}`));
          },
          (err: unknown) => reject(err),
        );
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)));
      req.on('error', (err: NodeJS.ErrnoException) => {
        const hint = err.code === 'ECONNREFUSED' ? '; is the server running (`bulwark up`)?' : '';
        reject(new BulwarkError('UNREACHABLE', `cannot reach ${this.options.baseUrl}: ${err.code ?? err.message}${hint}`));
      });
      req.end();
    });
  }
}

async function readJson(res: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of res as AsyncIterable<Buffer>) chunks.push(c);
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return text === '' ? undefined : JSON.parse(text);
  } catch {
    throw new BulwarkError('UNREACHABLE', `the server answered HTTP ${res.statusCode ?? 0} with no JSON; is it a Bulwark API listener?`);
  }
}
