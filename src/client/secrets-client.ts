import { BulwarkError } from '../core/errors.js';
import {
  SecretListSchema,
  SecretRemovedSchema,
  SecretValueSchema,
  SecretVersionsSchema,
  SecretWrittenSchema,
} from '../protocol/secrets.js';
import type { ApiClient } from './api-client.js';

/**
 * The path as URL segments, each percent-encoded. A "." or ".." segment is
 * refused here: URL normalisation would resolve it (even percent-encoded) into
 * another secret's path before the server could refuse it.
 */
function urlPath(path: string): string {
  const segments = path.split('/');
  if (segments.some((s) => s === '.' || s === '..')) throw new BulwarkError('BAD_REQUEST', `secret path ${JSON.stringify(path)} has a "." or ".." segment`);
  return segments.map(encodeURIComponent).join('/');
}

/** The secrets store calls of the API, over an `ApiClient`. Values travel base64. */
export class SecretsClient {
  constructor(private readonly api: ApiClient) {}

  list(prefix?: string) {
    return this.api.call('GET', '/v1/secrets', SecretListSchema, { query: { prefix } });
  }

  async get(path: string, version?: number) {
    const found = await this.api.call('GET', `/v1/secrets/data/${urlPath(path)}`, SecretValueSchema, { query: { version } });
    return { ...found, value: Buffer.from(found.value, 'base64') };
  }

  put(path: string, value: Uint8Array, opts: { maxVersions?: number } = {}) {
    const body = { value: Buffer.from(value).toString('base64'), ...(opts.maxVersions === undefined ? {} : { maxVersions: opts.maxVersions }) };
    return this.api.call('PUT', `/v1/secrets/data/${urlPath(path)}`, SecretWrittenSchema, { body });
  }

  versions(path: string) {
    return this.api.call('GET', `/v1/secrets/versions/${urlPath(path)}`, SecretVersionsSchema);
  }

  rollback(path: string, version: number) {
    return this.api.call('POST', `/v1/secrets/rollback/${urlPath(path)}`, SecretWrittenSchema, { body: { version } });
  }

  remove(path: string, opts: { version?: number; destroy?: boolean } = {}) {
    return this.api.call('DELETE', `/v1/secrets/data/${urlPath(path)}`, SecretRemovedSchema, { query: { version: opts.version, destroy: opts.destroy ? 'true' : undefined } });
  }
}
