import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { backup } from '../archiver.js';
import { check } from '../checker.js';
import type { Credential } from '../key-file.js';
import { Repository } from '../repository.js';
import { restore } from '../restorer.js';
import { S3Backend } from './s3.js';
import type { S3BackendOptions } from './s3.js';
import { backendSuite, hexId, listAll, rejectsWith } from './backend-suite.js';

const BUCKET = 'bulwark-test';
const ROOT_BUCKET = 'bulwark-root';
const credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

/**
 * s3rver runs in a child process started with --openssl-legacy-provider: it makes
 * ListObjectsV2 continuation tokens with DES, which OpenSSL 3 (Node ≥ 17) refuses
 * without the legacy provider, so every listing longer than one page would fail
 * with a 500 in this process.
 */
const SERVER_SCRIPT = `
const crypto = require('node:crypto');
try { crypto.createCipheriv('des', Buffer.alloc(8), Buffer.alloc(8)); }
catch { console.error('this Node has no OpenSSL legacy provider, which s3rver needs for ListObjectsV2 paging'); process.exit(1); }
const S3rver = require(process.argv[1]);
const server = new S3rver({
  port: 0, address: '127.0.0.1', silent: true, directory: process.argv[2],
  configureBuckets: process.argv.slice(3).map((name) => ({ name, configs: [] })),
});
server.run().then((address) => process.stdout.write(JSON.stringify({ port: address.port }) + '\\n'));
// The parent's end of stdin closes when it stops (or dies), and so does the server.
process.stdin.resume();
process.stdin.on('end', () => server.close().finally(() => process.exit(0)));
`;

interface RunningS3rver {
  endpoint: string;
  stop(): Promise<void>;
}

async function startS3rver(directory: string): Promise<RunningS3rver> {
  const modulePath = createRequire(import.meta.url).resolve('s3rver');
  const child: ChildProcess = spawn(process.execPath, ['--openssl-legacy-provider', '-e', SERVER_SCRIPT, modulePath, directory, BUCKET, ROOT_BUCKET], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    let stdout = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const line = stdout.split('\n')[0];
      if (stdout.includes('\n') && line !== undefined) resolve((JSON.parse(line) as { port: number }).port);
    });
    child.once('exit', (code) => reject(new Error(`s3rver exited with ${code} before it listened: ${stderr}`)));
  });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    async stop() {
      const exited = once(child, 'exit');
      child.stdin?.end();
      await exited;
    },
  };
}

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  assert.ok(address !== null && typeof address === 'object');
  return address.port;
}

let s3rver: RunningS3rver | undefined;
let directory: string | undefined;

before(async () => {
  directory = await mkdtemp(join(tmpdir(), 'bulwark-s3rver-'));
  s3rver = await startS3rver(directory);
});

after(async () => {
  await s3rver?.stop();
  if (directory !== undefined) await rm(directory, { recursive: true, force: true });
});

function backendAt(options: Partial<S3BackendOptions> = {}): S3Backend {
  assert.ok(s3rver !== undefined, 's3rver is not running');
  return new S3Backend({ bucket: BUCKET, prefix: `repo-${hexId().slice(0, 12)}`, endpoint: s3rver.endpoint, credentials, ...options });
}

backendSuite('s3 (s3rver)', async () => ({ backend: backendAt(), cleanup: async () => undefined }));

describe('s3 backend against s3rver', () => {
  test('location names the bucket and prefix, with no slash left over', () => {
    assert.equal(backendAt({ prefix: 'hosts/web1/' }).location, `s3://${BUCKET}/hosts/web1`);
    assert.equal(backendAt({ prefix: '' }).location, `s3://${BUCKET}`);
  });

  test('prefixes keep repositories in one bucket apart, even when one prefix starts the other or one is at the root', async () => {
    const one = backendAt({ prefix: 'team/r1' });
    const ten = backendAt({ prefix: 'team/r10' });
    const bucketRoot = backendAt({ bucket: ROOT_BUCKET, prefix: '' });
    const sibling = backendAt({ bucket: ROOT_BUCKET, prefix: 'other' });
    for (const backend of [one, ten, bucketRoot, sibling]) {
      await backend.create();
      await backend.write('config', 'config', Buffer.from(backend.location));
    }
    const pack = hexId();
    await one.write('keys', 'k-one', Buffer.from('1'));
    await one.write('data', pack, Buffer.from('pack of one'));
    await ten.write('keys', 'k-ten', Buffer.from('10'));
    await bucketRoot.write('keys', 'k-root', Buffer.from('root'));
    await sibling.write('keys', 'k-sibling', Buffer.from('sibling'));

    assert.deepEqual(await listAll(one, 'keys'), [{ name: 'k-one', size: 1 }]);
    assert.deepEqual(await listAll(ten, 'keys'), [{ name: 'k-ten', size: 2 }]);
    assert.deepEqual(await listAll(bucketRoot, 'keys'), [{ name: 'k-root', size: 4 }]);
    assert.deepEqual(await listAll(sibling, 'keys'), [{ name: 'k-sibling', size: 7 }]);
    assert.deepEqual(await listAll(ten, 'data'), []);
    assert.equal(await ten.stat('data', pack), undefined);
    assert.equal((await ten.read('config', 'config')).toString(), `s3://${BUCKET}/team/r10`);
    assert.equal((await bucketRoot.read('config', 'config')).toString(), `s3://${ROOT_BUCKET}`);
    for (const backend of [one, ten, bucketRoot, sibling]) await backend.close();
  });

  test('a missing bucket is REPOSITORY_NOT_FOUND naming the bucket', async () => {
    const backend = backendAt({ bucket: 'no-such-bucket' });
    const named = /"no-such-bucket".*does not exist; create the bucket first/;
    await rejectsWith(backend.create(), 'REPOSITORY_NOT_FOUND', named);
    await rejectsWith(listAll(backend, 'keys'), 'REPOSITORY_NOT_FOUND', named);
    await rejectsWith(backend.read('config', 'config'), 'REPOSITORY_NOT_FOUND', named);
    await rejectsWith(backend.read('data', hexId(), { offset: 0, length: 4 }), 'REPOSITORY_NOT_FOUND', named);
    await rejectsWith(backend.write('keys', 'k', Buffer.from('k')), 'REPOSITORY_NOT_FOUND', named);
    await backend.close();
  });

  test('list pages through more files than one ListObjectsV2 answer holds', async () => {
    const backend = backendAt();
    await backend.create();
    const names = Array.from({ length: 1100 }, () => hexId());
    for (let i = 0; i < names.length; i += 25) {
      await Promise.all(names.slice(i, i + 25).map((name) => backend.write('data', name, Buffer.from(name.slice(0, 3)))));
    }
    const listed = await listAll(backend, 'data');
    assert.equal(listed.length, 1100);
    assert.deepEqual(listed, [...names].sort().map((name) => ({ name, size: 3 })));
    await backend.close();
  });

  test('an unreachable endpoint is STORAGE_FAILED naming the network error, never the credentials', async () => {
    const secret = `secret-${randomBytes(8).toString('hex')}`;
    const backend = new S3Backend({
      bucket: BUCKET,
      prefix: 'p',
      endpoint: `http://127.0.0.1:${await closedPort()}`,
      credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: secret },
    });
    await assert.rejects(backend.read('keys', 'k'), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'STORAGE_FAILED');
      assert.match(err.message, /ECONNREFUSED/);
      assert.match(err.message, /could not be reached/);
      assert.ok(!err.message.includes(secret));
      return true;
    });
    await backend.close();
  });

  test('an endpoint that is not a URL is BAD_REQUEST', () => {
    assert.throws(() => new S3Backend({ bucket: BUCKET, prefix: '', endpoint: 'not a url' }), { code: 'BAD_REQUEST' });
  });
});

describe('a backup into s3 (s3rver), end to end', () => {
  test('packs collected in memory are whole and sound: the workers never get back a buffer the pack still holds', async () => {
    const src = await mkdtemp(join(tmpdir(), 'bulwark-s3-backup-'));
    try {
      // Many batches (3 MiB of small files, then 20 MiB in large ones): several packs, each built from many batches.
      const files = new Map<string, Buffer>();
      for (let i = 0; i < 300; i++) files.set(`small-${i}.bin`, randomBytes(10_000));
      for (let i = 0; i < 4; i++) files.set(`large-${i}.bin`, randomBytes(5 * 1024 * 1024));
      for (const [name, bytes] of files) await writeFile(join(src, name), bytes);
      const credential: Credential = { kind: 'key-file', bytes: randomBytes(32) };
      const backend = backendAt();
      await Repository.init(backend, credential);
      const repo = await Repository.open(backend, credential);
      const result = await backup(repo, { paths: [src], workers: 1 });
      assert.equal(result.snapshot.summary?.filesNew, files.size);
      const report = await check(await Repository.open(backend, credential), { readData: true });
      assert.equal(report.ok, true, JSON.stringify(report.problems));
      assert.ok(report.packs >= 2, `${report.packs} packs`);
      const target = await mkdtemp(join(tmpdir(), 'bulwark-s3-restore-'));
      try {
        const reader = await Repository.open(backend, credential);
        await reader.loadIndex();
        await restore(reader, result.snapshot.tree, { target });
        for (const [name, bytes] of files) assert.deepEqual(await readFile(join(target, src, name)), bytes, name);
      } finally {
        await rm(target, { recursive: true, force: true });
      }
      await backend.close();
    } finally {
      await rm(src, { recursive: true, force: true });
    }
  });
});
