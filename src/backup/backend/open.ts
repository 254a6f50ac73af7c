import { resolve } from 'node:path';
import { BulwarkError } from '../../core/errors.js';
import type { Backend, ByteRange, FileInfo, FileKind } from './backend.js';
import { LocalBackend } from './local.js';
import type { S3BackendOptions } from './s3.js';

export type RepositoryLocation = { kind: 'local'; path: string } | { kind: 's3'; bucket: string; prefix: string };

/**
 * Reads where a repository lives: `s3://bucket/some/prefix` or a local path
 * (made absolute against the working directory).
 *
 * @example parseRepositoryUrl('s3://backups/hosts/web1/') // { kind: 's3', bucket: 'backups', prefix: 'hosts/web1' }
 */
export function parseRepositoryUrl(text: string): RepositoryLocation {
  const value = text.trim();
  if (value === '') throw new BulwarkError('BAD_REQUEST', 'A repository location is empty; give a folder path or s3://bucket/prefix.');
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(value)?.[1]?.toLowerCase();
  if (scheme === 's3') {
    if (!/^s3:\/\//i.test(value)) throw new BulwarkError('BAD_REQUEST', `"${value}" is not an S3 location; write it as s3://bucket/prefix.`);
    const rest = value.slice('s3://'.length);
    const slash = rest.indexOf('/');
    const bucket = slash === -1 ? rest : rest.slice(0, slash);
    const prefix = slash === -1 ? '' : rest.slice(slash + 1).replace(/^\/+|\/+$/g, '');
    if (!/^[a-z0-9.-]{3,63}$/.test(bucket)) {
      throw new BulwarkError('BAD_REQUEST', `"${bucket}" is not an S3 bucket name (3 to 63 lowercase letters, digits, dots and hyphens).`);
    }
    return { kind: 's3', bucket, prefix };
  }
  // One letter before a colon is a Windows drive, not a scheme.
  if (scheme !== undefined && scheme.length > 1 && value.slice(scheme.length).startsWith('://')) {
    throw new BulwarkError('BAD_REQUEST', `Repositories at ${scheme}:// locations are not supported; use a folder path or s3://bucket/prefix.`);
  }
  return { kind: 'local', path: resolve(value) };
}

/**
 * The backend for a repository location. An S3 endpoint other than AWS comes from
 * `options.s3Endpoint`, else AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL; credentials
 * and region from the AWS SDK's usual environment variables.
 */
export function openBackend(url: string, options: { s3Endpoint?: string } = {}): Backend {
  const location = parseRepositoryUrl(url);
  if (location.kind === 'local') return new LocalBackend(location.path);
  const endpoint = options.s3Endpoint || process.env.AWS_ENDPOINT_URL_S3 || process.env.AWS_ENDPOINT_URL || undefined;
  return new DeferredS3Backend({ bucket: location.bucket, prefix: location.prefix, ...(endpoint === undefined ? {} : { endpoint }) });
}

/**
 * The S3 backend, loaded on first use: the AWS SDK costs about 20 MB and a tenth of
 * a second to load, which a backup to a local directory should not pay.
 */
class DeferredS3Backend implements Backend {
  readonly location: string;
  #backend: Promise<Backend> | undefined;

  constructor(private readonly options: S3BackendOptions) {
    // Checked now, not at first use: a wrong endpoint is a usage error of the command that named it.
    if (options.endpoint !== undefined && !URL.canParse(options.endpoint)) {
      throw new BulwarkError('BAD_REQUEST', 'The S3 endpoint must be a URL such as http://127.0.0.1:9000 (got an unparsable value).');
    }
    this.location = `s3://${options.bucket}${options.prefix === '' ? '' : `/${options.prefix}`}`;
  }

  #get(): Promise<Backend> {
    this.#backend ??= import('./s3.js').then(({ S3Backend }) => new S3Backend(this.options));
    return this.#backend;
  }

  async create(): Promise<void> {
    return (await this.#get()).create();
  }

  async *list(kind: FileKind): AsyncIterable<FileInfo> {
    yield* (await this.#get()).list(kind);
  }

  async read(kind: FileKind, name: string, range?: ByteRange): Promise<Buffer> {
    return (await this.#get()).read(kind, name, range);
  }

  async write(kind: FileKind, name: string, data: Uint8Array | readonly Uint8Array[], options?: { exclusive?: boolean }): Promise<void> {
    return (await this.#get()).write(kind, name, data, options);
  }

  async remove(kind: FileKind, name: string): Promise<void> {
    return (await this.#get()).remove(kind, name);
  }

  async stat(kind: FileKind, name: string): Promise<FileInfo | undefined> {
    return (await this.#get()).stat(kind, name);
  }

  async close(): Promise<void> {
    if (this.#backend) await (await this.#backend).close();
  }
}
