import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findSnapshot, parseSnapshot, type Snapshot, type SnapshotRef } from './snapshot.js';

const TREE = 'c'.repeat(64);
const PARENT = 'd'.repeat(64);

function snapshot(extra: Partial<Snapshot> = {}): Snapshot {
  return { v: 1, time: '2026-11-25T10:00:00.000Z', host: 'db-1', user: 'root', paths: ['/etc'], tags: [], excludes: [], tree: TREE, program: 'bulwark 0.1.0', ...extra };
}

function bytes(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

/** An id made of a prefix padded with a digit, so tests choose which prefixes collide. */
function id(prefix: string, pad = '0'): string {
  return prefix + pad.repeat(64 - prefix.length);
}

function ref(idHex: string, extra: Partial<Snapshot> = {}): SnapshotRef {
  return { ...snapshot(extra), id: idHex };
}

describe('parseSnapshot', () => {
  it('parses a snapshot and adds its id', () => {
    const s = snapshot({ parent: PARENT, tags: ['hourly'], excludes: ['*.tmp'] });
    const parsed = parseSnapshot(bytes(s), id('ab'));
    assert.deepEqual(parsed, { ...s, id: id('ab') });
  });

  it('defaults missing excludes to none', () => {
    const { excludes: _excludes, ...rest } = snapshot();
    assert.deepEqual(parseSnapshot(bytes(rest), id('ab')).excludes, []);
  });

  it('refuses what is not JSON, naming the snapshot by its short id', () => {
    assert.throws(() => parseSnapshot(Buffer.from('{"v":1'), id('1234abcd')), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'REPOSITORY_DAMAGED');
      assert.match(err.message, /snapshot 1234abcd is not valid JSON/);
      return true;
    });
  });

  it('refuses malformed snapshots', () => {
    const bad: unknown[] = [
      null,
      [],
      'snapshot',
      { ...snapshot(), v: 2 },
      { ...snapshot(), time: 'yesterday' },
      { ...snapshot(), time: undefined },
      { ...snapshot(), host: 1 },
      { ...snapshot(), user: undefined },
      { ...snapshot(), paths: '/etc' },
      { ...snapshot(), paths: ['/etc', 5] },
      { ...snapshot(), tags: [null] },
      { ...snapshot(), tags: undefined },
      { ...snapshot(), tree: 'C'.repeat(64) },
      { ...snapshot(), tree: 'c'.repeat(63) },
      { ...snapshot(), tree: undefined },
      { ...snapshot(), parent: 'nope' },
      { ...snapshot(), parent: null },
    ];
    for (const value of bad) {
      assert.throws(() => parseSnapshot(bytes(value), id('ab')), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'REPOSITORY_DAMAGED', JSON.stringify(value));
        assert.match(err.message, /snapshot ab000000 is malformed/);
        return true;
      });
    }
  });
});

describe('findSnapshot', () => {
  const snapshots: SnapshotRef[] = [
    ref(id('abcd1'), { time: '2026-11-20T10:00:00.000Z', host: 'db-1', paths: ['/etc', '/var/lib/app'], tags: ['daily'] }),
    ref(id('abcd2'), { time: '2026-11-21T10:00:00.000Z', host: 'db-1', paths: ['/etc'], tags: ['daily', 'manual'] }),
    ref(id('beef'), { time: '2026-11-22T10:00:00.000Z', host: 'web-1', paths: ['/srv'], tags: [] }),
    ref(id('0123'), { time: '2026-11-19T10:00:00.000Z', host: 'db-1', paths: ['/var/lib/app', '/etc'], tags: ['hourly'] }),
  ];

  it('latest: the newest snapshot', () => {
    assert.equal(findSnapshot(snapshots, 'latest').id, id('beef'));
  });

  it('latest of one host', () => {
    assert.equal(findSnapshot(snapshots, 'latest', { host: 'db-1' }).id, id('abcd2'));
    assert.equal(findSnapshot(snapshots, 'latest', { host: 'web-1' }).id, id('beef'));
  });

  it('latest of the same set of paths, in any order', () => {
    assert.equal(findSnapshot(snapshots, 'latest', { paths: ['/var/lib/app', '/etc'] }).id, id('abcd1'));
    assert.equal(findSnapshot(snapshots, 'latest', { paths: ['/etc'] }).id, id('abcd2'));
    assert.throws(() => findSnapshot(snapshots, 'latest', { paths: ['/etc', '/srv'] }), { code: 'NOT_FOUND' });
  });

  it('latest with every one of the tags', () => {
    assert.equal(findSnapshot(snapshots, 'latest', { tags: ['daily'] }).id, id('abcd2'));
    assert.equal(findSnapshot(snapshots, 'latest', { tags: ['hourly'] }).id, id('0123'));
    assert.equal(findSnapshot(snapshots, 'latest', { tags: [] }).id, id('beef'));
    assert.throws(() => findSnapshot(snapshots, 'latest', { tags: ['daily', 'hourly'] }), { code: 'NOT_FOUND' });
  });

  it('latest with filters combined', () => {
    assert.equal(findSnapshot(snapshots, 'latest', { host: 'db-1', paths: ['/etc', '/var/lib/app'], tags: ['daily'] }).id, id('abcd1'));
    assert.throws(() => findSnapshot(snapshots, 'latest', { host: 'web-1', tags: ['daily'] }), { code: 'NOT_FOUND' });
  });

  it('latest breaks a tie in time the same way whatever the order of the list', () => {
    const tied = [ref(id('aaaa'), { time: '2026-11-25T10:00:00.000Z' }), ref(id('bbbb'), { time: '2026-11-25T10:00:00.000Z' })];
    const one = findSnapshot(tied, 'latest').id;
    assert.equal(findSnapshot([...tied].reverse(), 'latest').id, one);
  });

  it('latest with no snapshot at all is NOT_FOUND', () => {
    assert.throws(() => findSnapshot([], 'latest'), { code: 'NOT_FOUND' });
  });

  it('by a unique prefix, or the whole id', () => {
    assert.equal(findSnapshot(snapshots, 'abcd1').id, id('abcd1'));
    assert.equal(findSnapshot(snapshots, 'beef').id, id('beef'));
    assert.equal(findSnapshot(snapshots, id('0123')).id, id('0123'));
  });

  it('an ambiguous prefix is AMBIGUOUS_NAME', () => {
    assert.throws(() => findSnapshot(snapshots, 'abcd'), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'AMBIGUOUS_NAME');
      assert.match(err.message, /2 snapshots/);
      return true;
    });
  });

  it('a prefix shorter than 4 digits, or not lower-case hex, is BAD_REQUEST', () => {
    for (const bad of ['', 'a', 'abc', 'ABCD1', 'abcz', 'newest', `${id('ab')}0`, ' abcd']) {
      assert.throws(() => findSnapshot(snapshots, bad), { code: 'BAD_REQUEST' }, bad);
    }
  });

  it('a prefix no snapshot has is NOT_FOUND', () => {
    assert.throws(() => findSnapshot(snapshots, 'ffff'), { code: 'NOT_FOUND' });
    assert.throws(() => findSnapshot([], 'abcd'), { code: 'NOT_FOUND' });
  });
});
