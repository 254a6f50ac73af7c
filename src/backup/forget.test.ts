import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { backup } from './archiver.js';
import { LocalBackend } from './backend/local.js';
import { forget } from './forget.js';
import { Repository } from './repository.js';
import type { Snapshot } from './snapshot.js';

const credential = { kind: 'password', password: 'correct horse' } as const;

let root: string;
let dirs = 0;

/** A repository holding one real backup; snapshots are then added by hand with chosen times and hosts. */
async function repository(): Promise<{ repo: Repository; dir: string; first: string; add: (time: string, host?: string) => Promise<string> }> {
  const dir = join(root, `repo-${++dirs}`);
  const repo = await Repository.init(new LocalBackend(dir), credential, { scryptCost: { log2N: 15, r: 8, p: 1 } });
  const { id, snapshot } = await backup(repo, { paths: [join(root, 'src')], workers: 1, host: 'alpha', now: () => new Date('2024-01-01T00:00:00Z') });
  const { id: _id, ...template } = snapshot;
  // Same tree, chosen time and host: retention looks at nothing else.
  const add = (time: string, host = 'alpha'): Promise<string> => repo.saveSnapshot({ ...template, time, host } satisfies Snapshot);
  return { repo, dir, first: id, add };
}

async function remaining(dir: string): Promise<string[]> {
  return (await readdir(join(dir, 'snapshots'))).sort();
}

describe('forget', () => {
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'bulwark-forget-'));
    await mkdir(join(root, 'src'));
    await writeFile(join(root, 'src', 'a.txt'), 'some content');
  });

  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('keeps the newest two of a host and paths with keep-last 2 and removes the rest', async () => {
    const { repo, dir, first, add } = await repository();
    const feb = await add('2024-02-01T00:00:00Z');
    const mar = await add('2024-03-01T00:00:00Z');
    const apr = await add('2024-04-01T00:00:00Z');
    const result = await forget(repo, { last: 2 });
    assert.deepEqual(result.removed, [feb, first]);
    assert.equal(result.groups.length, 1);
    assert.deepEqual(result.groups[0]?.key, { host: 'alpha', paths: [join(root, 'src')] });
    assert.deepEqual(
      result.groups[0]?.keep.map((k) => k.id),
      [apr, mar],
    );
    assert.deepEqual(await remaining(dir), [apr, mar].sort());
    assert.equal((await readdir(join(dir, 'locks'))).length, 0, 'the lock is released');
  });

  it('removes nothing in a dry run but reports what it would remove', async () => {
    const { repo, dir, first, add } = await repository();
    const later = await add('2024-06-01T00:00:00Z');
    const before = await remaining(dir);
    const result = await forget(repo, { last: 1 }, { dryRun: true });
    assert.deepEqual(result.removed, [first]);
    assert.deepEqual(await remaining(dir), before);
    assert.ok(before.includes(later));
  });

  it('applies the policy to each host alone, or to one host only', async () => {
    const { repo, dir, first, add } = await repository();
    const alphaNew = await add('2024-05-01T00:00:00Z');
    const betaOld = await add('2024-01-01T00:00:00Z', 'beta');
    const betaNew = await add('2024-05-01T00:00:00Z', 'beta');

    const onlyBeta = await forget(repo, { last: 1 }, { host: 'beta', dryRun: true });
    assert.deepEqual(onlyBeta.removed, [betaOld]);

    const everyHost = await forget(repo, { last: 1 });
    assert.deepEqual(everyHost.removed.sort(), [first, betaOld].sort());
    assert.deepEqual(await remaining(dir), [alphaNew, betaNew].sort());
  });

  it('refuses a policy that keeps nothing', async () => {
    const { repo, dir } = await repository();
    const before = await remaining(dir);
    await assert.rejects(forget(repo, {}), { code: 'BAD_REQUEST' });
    assert.deepEqual(await remaining(dir), before);
  });
});
