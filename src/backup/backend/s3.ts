import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import type { S3ClientConfig } from '@aws-sdk/client-s3';
import { BulwarkError, isBulwarkError } from '../../core/errors.js';
import { isSafeFileName } from './backend.js';
import type { Backend, ByteRange, FileInfo, FileKind } from './backend.js';
import { checkKind, checkRange, filePath, shortFileError, writeParts } from './layout.js';

export interface S3BackendOptions {
  bucket: string;
  /** Folder of the repository inside the bucket, without leading or trailing slash; '' for the bucket's root. */
  prefix: string;
  /** An S3-compatible server (MinIO, Ceph, …) as a URL; path-style addressing is used with it. Default: AWS. */
  endpoint?: string;
  /** Default: AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1. */
  region?: string;
  /** Default: the AWS SDK's provider chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, profiles, instance roles). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

/** SDK error names that mean the credentials were missing, wrong or not allowed. */
const CREDENTIAL_ERRORS = new Set([
  'AccessDenied',
  'Forbidden',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'InvalidToken',
  'TokenRefreshRequired',
  'CredentialsProviderError',
]);

/**
 * A repository in an S3 bucket (or an S3-compatible store) under a prefix:
 * `<prefix>/config`, `<prefix>/keys/<name>`, `<prefix>/data/<2 hex>/<name>`, … —
 * the same layout as a local repository, so one can be copied to the other.
 * A PUT is atomic on S3, so a reader never sees a torn file. Transient failures
 * are retried by the SDK (3 attempts); errors never carry the credentials.
 */
export class S3Backend implements Backend {
  readonly location: string;
  readonly #client: S3Client;
  readonly #bucket: string;
  /** The prefix with its trailing slash, or '' for the bucket's root. */
  readonly #keyPrefix: string;
  /** Where the endpoint is, for messages (host only: a URL may carry a user and password). */
  readonly #endpointHost: string | undefined;

  constructor(options: S3BackendOptions) {
    if (options.bucket === '') throw new BulwarkError('BAD_REQUEST', 'An S3 repository needs a bucket name.');
    const prefix = options.prefix.replace(/^\/+|\/+$/g, '');
    this.#bucket = options.bucket;
    this.#keyPrefix = prefix === '' ? '' : `${prefix}/`;
    this.location = prefix === '' ? `s3://${options.bucket}` : `s3://${options.bucket}/${prefix}`;
    this.#endpointHost = options.endpoint === undefined ? undefined : endpointHost(options.endpoint);
    const config: S3ClientConfig = {
      region: options.region || process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || 'us-east-1',
      // S3-compatible stores often know neither the newer CRC checksums nor their headers.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    };
    if (options.endpoint !== undefined) {
      config.endpoint = options.endpoint;
      // Most self-hosted stores have no per-bucket DNS names.
      config.forcePathStyle = true;
    }
    if (options.credentials !== undefined) config.credentials = options.credentials;
    this.#client = new S3Client(config);
  }

  async create(): Promise<void> {
    // A listing, unlike a HEAD, tells a missing bucket from a missing file.
    for await (const _ of this.list('config')) {
      throw new BulwarkError('CONFLICT', `A backup repository already exists at ${this.location}; choose another prefix or use that repository.`);
    }
  }

  async *list(kind: FileKind): AsyncGenerator<FileInfo> {
    checkKind(kind);
    const listPrefix = kind === 'config' ? this.#key('config', 'config') : `${this.#keyPrefix}${kind}/`;
    let token: string | undefined;
    do {
      const page = await this.#send(
        () => this.#client.send(new ListObjectsV2Command({ Bucket: this.#bucket, Prefix: listPrefix, ContinuationToken: token })),
        `list ${kind}/ in`,
      );
      for (const object of page.Contents ?? []) {
        const name = object.Key === undefined ? undefined : nameOf(kind, object.Key.slice(listPrefix.length));
        if (name !== undefined) yield { name, size: object.Size ?? 0, ...(object.LastModified ? { modified: object.LastModified.getTime() } : {}) };
      }
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
      if (page.IsTruncated === true && token === undefined) {
        throw new BulwarkError('STORAGE_FAILED', `The S3 listing of ${kind}/ in ${this.location} was cut short without a way to continue; the store is not S3-compatible enough.`);
      }
    } while (token !== undefined);
  }

  async read(kind: FileKind, name: string, range?: ByteRange): Promise<Buffer> {
    const key = this.#key(kind, name);
    if (range !== undefined) checkRange(range);
    if (range?.length === 0) {
      // An empty range has no HTTP form; the object must still exist and reach the offset.
      const info = await this.stat(kind, name);
      if (info === undefined) throw this.#notFound(kind, name);
      if (info.size < range.offset) throw shortFileError(kind, name, range, 0);
      return Buffer.alloc(0);
    }
    const rangeHeader = range === undefined ? undefined : `bytes=${range.offset}-${range.offset + range.length - 1}`;
    const bytes = await this.#send(
      async () => {
        const response = await this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: key, Range: rangeHeader }));
        if (response.Body === undefined) throw new BulwarkError('STORAGE_FAILED', `S3 returned no content for ${kind}/${name} in ${this.location}.`);
        const body = await response.Body.transformToByteArray();
        return { body: Buffer.from(body.buffer, body.byteOffset, body.byteLength), length: response.ContentLength, ranged: response.ContentRange !== undefined };
      },
      `read ${kind}/${name} from`,
      { kind, name, range },
    );
    if (range === undefined) {
      if (bytes.length !== undefined && bytes.body.length !== bytes.length) {
        throw new BulwarkError('STORAGE_FAILED', `The download of ${kind}/${name} from ${this.location} was cut short (${bytes.body.length} of ${bytes.length} bytes); try again.`);
      }
      return bytes.body;
    }
    // A server that ignores Range sends the whole object; take the range from it.
    const body = bytes.ranged ? bytes.body : bytes.body.subarray(range.offset, range.offset + range.length);
    if (body.length < range.length) throw shortFileError(kind, name, range, body.length);
    if (body.length > range.length) {
      throw new BulwarkError('STORAGE_FAILED', `S3 returned ${body.length} bytes for a range of ${range.length} from ${kind}/${name} in ${this.location}.`);
    }
    return body;
  }

  async write(kind: FileKind, name: string, data: Uint8Array | readonly Uint8Array[], options: { exclusive?: boolean } = {}): Promise<void> {
    const key = this.#key(kind, name);
    const parts = writeParts(data);
    // S3 wants the length before the body, and the SDK can retry only a body it can
    // send again; a repository file is at most a pack (~20 MiB), so joining is cheap.
    const body = parts.length === 1 && parts[0] !== undefined ? parts[0] : Buffer.concat(parts);
    const exclusive = options.exclusive === true;
    // If-None-Match makes an exclusive PUT atomic on AWS S3, but some S3-compatible
    // servers ignore it; asking first catches an existing file there, though not a
    // writer racing this one (best effort on such servers).
    if (exclusive && (await this.stat(kind, name)) !== undefined) throw this.#conflict(kind, name);
    await this.#send(
      () => this.#client.send(new PutObjectCommand({ Bucket: this.#bucket, Key: key, Body: body, IfNoneMatch: exclusive ? '*' : undefined })),
      `write ${kind}/${name} to`,
      { kind, name, exclusive },
    );
  }

  async remove(kind: FileKind, name: string): Promise<void> {
    const key = this.#key(kind, name);
    await this.#send(() => this.#client.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: key })), `remove ${kind}/${name} from`);
  }

  async stat(kind: FileKind, name: string): Promise<FileInfo | undefined> {
    const key = this.#key(kind, name);
    try {
      const head = await this.#client.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: key }));
      return { name, size: head.ContentLength ?? 0, ...(head.LastModified ? { modified: head.LastModified.getTime() } : {}) };
    } catch (err) {
      // A HEAD response has no body, so a missing bucket looks like a missing file here too.
      if (errorName(err) === 'NotFound' || errorName(err) === 'NoSuchKey' || httpStatus(err) === 404) return undefined;
      throw this.#mapError(err, `read the size of ${kind}/${name} in`);
    }
  }

  async close(): Promise<void> {
    this.#client.destroy();
  }

  #key(kind: FileKind, name: string): string {
    return this.#keyPrefix + filePath(kind, name);
  }

  async #send<T>(
    call: () => Promise<T>,
    action: string,
    file?: { kind: FileKind; name: string; range?: ByteRange | undefined; exclusive?: boolean },
  ): Promise<T> {
    try {
      return await call();
    } catch (err) {
      const name = errorName(err);
      if (file !== undefined) {
        if (name === 'NoSuchKey' || name === 'NotFound') throw this.#notFound(file.kind, file.name);
        if (name === 'InvalidRange' && file.range !== undefined) throw shortFileError(file.kind, file.name, file.range, 0);
        if (file.exclusive === true && (name === 'PreconditionFailed' || name === 'ConditionalRequestConflict' || httpStatus(err) === 412)) {
          throw this.#conflict(file.kind, file.name);
        }
      }
      throw this.#mapError(err, action);
    }
  }

  /** A BulwarkError for any SDK, network or credential failure — with the SDK's error name, never its credentials. */
  #mapError(err: unknown, action: string): unknown {
    if (isBulwarkError(err)) return err;
    const name = errorName(err) ?? 'Error';
    const where = this.#endpointHost === undefined ? '' : ` at ${this.#endpointHost}`;
    if (name === 'NoSuchBucket') {
      return new BulwarkError(
        'REPOSITORY_NOT_FOUND',
        `The S3 bucket "${this.#bucket}"${where} does not exist; create the bucket first (Bulwark does not create buckets).`,
      );
    }
    const status = httpStatus(err);
    const statusText = status === undefined ? '' : ` (HTTP ${status})`;
    if (name === 'CredentialsProviderError') {
      return new BulwarkError('STORAGE_FAILED', `Could not ${action} ${this.location}: no S3 credentials were found; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.`);
    }
    if (CREDENTIAL_ERRORS.has(name) || status === 401 || status === 403) {
      return new BulwarkError(
        'STORAGE_FAILED',
        `S3 refused to ${action} ${this.location}: ${name}${statusText}; check the credentials and what they may do in bucket "${this.#bucket}".`,
      );
    }
    const code = errnoCode(err);
    if (code !== undefined || name === 'TimeoutError') {
      return new BulwarkError('STORAGE_FAILED', `Could not ${action} ${this.location}: the S3 endpoint${where} could not be reached (${code ?? name}).`);
    }
    return new BulwarkError('STORAGE_FAILED', `Could not ${action} ${this.location}: S3 answered ${name}${statusText}.`);
  }

  #notFound(kind: FileKind, name: string): BulwarkError {
    return new BulwarkError('NOT_FOUND', `${kind}/${name} does not exist in the backup repository at ${this.location}.`);
  }

  #conflict(kind: FileKind, name: string): BulwarkError {
    return new BulwarkError('CONFLICT', `${kind}/${name} already exists in the backup repository at ${this.location}; it was left unchanged.`);
  }
}

/** The file name a key under a kind's prefix stands for, or undefined for a key the repository would not have written. */
function nameOf(kind: FileKind, rest: string): string | undefined {
  if (kind === 'config') return rest === '' ? 'config' : undefined;
  if (kind !== 'data') return isSafeFileName(rest) ? rest : undefined;
  const match = /^([0-9a-f]{2})\/([^/]+)$/.exec(rest);
  const shard = match?.[1];
  const name = match?.[2];
  return shard !== undefined && name !== undefined && name.startsWith(shard) && isSafeFileName(name) ? name : undefined;
}

function endpointHost(endpoint: string): string {
  try {
    return new URL(endpoint).host;
  } catch {
    throw new BulwarkError('BAD_REQUEST', `The S3 endpoint must be a URL such as http://127.0.0.1:9000 (got an unparsable value).`);
  }
}

function errorName(err: unknown): string | undefined {
  const name = (err as { name?: unknown } | null)?.name;
  return typeof name === 'string' ? name : undefined;
}

function httpStatus(err: unknown): number | undefined {
  const status = (err as { $metadata?: { httpStatusCode?: unknown } } | null)?.$metadata?.httpStatusCode;
  return typeof status === 'number' ? status : undefined;
}

function errnoCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^E[A-Z_]+$/.test(code) ? code : undefined;
}
