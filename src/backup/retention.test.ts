import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyRetention, isoWeek, parseKeepWithin, parseRetentionFlags, validateRetentionPolicy } from './retention.js';
import type { RetentionPolicy, RetentionSnapshot } from './retention.js';

const H = 3_600_000;
const D = 24 * H;

function snap(id: string, iso: string, extra: Partial<RetentionSnapshot> = {}): RetentionSnapshot {
  return { id, time: Date.parse(iso), host: 'web-1', paths: ['/srv'], tags: [], ...extra };
}

/** One snapshot at half past every hour for `days` days from 2023-01-01; ids are ISO times. */
function hourlyFor(days: number): RetentionSnapshot[] {
  const start = Date.parse('2023-01-01T00:30:00Z');
  const out: RetentionSnapshot[] = [];
  for (let i = 0; i < days * 24; i++) {
    const time = start + i * H;
    out.push({ id: new Date(time).toISOString(), time, host: 'web-1', paths: ['/srv'], tags: [] });
  }
  return out;
}

const YEAR_OF_HOURS = hourlyFor(400); // 2023-01-01T00:30Z … 2024-02-04T23:30Z

function onlyGroup(snapshots: RetentionSnapshot[], policy: RetentionPolicy) {
  const { groups } = applyRetention(snapshots, policy);
  assert.equal(groups.length, 1);
  const group = groups[0];
  assert.ok(group);
  return group;
}

function keptIds(snapshots: RetentionSnapshot[], policy: RetentionPolicy): string[] {
  return onlyGroup(snapshots, policy).keep.map((k) => k.id);
}

test('keep-last 3 keeps the three newest snapshots and forgets the rest, newest first', () => {
  const snapshots = [
    snap('a', '2024-05-01T10:00:00Z'),
    snap('e', '2024-05-05T10:00:00Z'),
    snap('c', '2024-05-03T10:00:00Z'),
    snap('b', '2024-05-02T10:00:00Z'),
    snap('d', '2024-05-04T10:00:00Z'),
  ];
  const group = onlyGroup(snapshots, { last: 3 });
  assert.deepEqual(group.keep, [
    { id: 'e', reasons: ['last'] },
    { id: 'd', reasons: ['last'] },
    { id: 'c', reasons: ['last'] },
  ]);
  assert.deepEqual(group.remove, ['b', 'a']);
});

test('keep-daily 7 over 400 days of hourly snapshots keeps exactly the newest snapshot of each of the 7 newest days', () => {
  const group = onlyGroup(YEAR_OF_HOURS, { daily: 7 });
  assert.deepEqual(
    group.keep.map((k) => k.id),
    ['04', '03', '02', '01', '31', '30', '29'].map((d, i) =>
      i < 4 ? `2024-02-${d}T23:30:00.000Z` : `2024-01-${d}T23:30:00.000Z`,
    ),
  );
  assert.ok(group.keep.every((k) => k.reasons.length === 1 && k.reasons[0] === 'daily'));
  assert.equal(group.remove.length, YEAR_OF_HOURS.length - 7);
});

test('keep-hourly keeps the newest snapshot of each hour', () => {
  const snapshots = [
    snap('10:05', '2024-05-01T10:05:00Z'),
    snap('10:55', '2024-05-01T10:55:00Z'),
    snap('11:20', '2024-05-01T11:20:00Z'),
    snap('11:40', '2024-05-01T11:40:00Z'),
    snap('13:00', '2024-05-01T13:00:00Z'),
  ];
  assert.deepEqual(keptIds(snapshots, { hourly: 2 }), ['13:00', '11:40']);
  assert.deepEqual(keptIds(snapshots, { hourly: 3 }), ['13:00', '11:40', '10:55']);
  assert.deepEqual(keptIds(YEAR_OF_HOURS, { hourly: 3 }), [
    '2024-02-04T23:30:00.000Z',
    '2024-02-04T22:30:00.000Z',
    '2024-02-04T21:30:00.000Z',
  ]);
});

test('isoWeek follows ISO 8601, including week 53 and weeks that straddle a new year', () => {
  assert.deepEqual(isoWeek(2020, 12, 31), { year: 2020, week: 53 });
  assert.deepEqual(isoWeek(2021, 1, 1), { year: 2020, week: 53 });
  assert.deepEqual(isoWeek(2021, 1, 3), { year: 2020, week: 53 }); // Sunday
  assert.deepEqual(isoWeek(2021, 1, 4), { year: 2021, week: 1 }); // Monday
  assert.deepEqual(isoWeek(2018, 12, 31), { year: 2019, week: 1 });
  assert.deepEqual(isoWeek(2024, 12, 30), { year: 2025, week: 1 });
  assert.deepEqual(isoWeek(2026, 1, 1), { year: 2026, week: 1 }); // a Thursday
  assert.deepEqual(isoWeek(2024, 3, 10), { year: 2024, week: 10 }); // Sunday
  assert.deepEqual(isoWeek(2024, 3, 11), { year: 2024, week: 11 }); // Monday
});

test('keep-weekly counts ISO weeks: Sunday and the next Monday are different weeks', () => {
  const snapshots = [
    snap('mon-04', '2024-03-04T09:00:00Z'),
    snap('wed-06', '2024-03-06T09:00:00Z'),
    snap('sun-10-early', '2024-03-10T01:00:00Z'),
    snap('sun-10-late', '2024-03-10T23:59:00Z'),
    snap('mon-11', '2024-03-11T00:01:00Z'),
  ];
  assert.deepEqual(keptIds(snapshots, { weekly: 2 }), ['mon-11', 'sun-10-late']);
  assert.deepEqual(keptIds(snapshots, { weekly: -1 }), ['mon-11', 'sun-10-late']);
});

test('keep-weekly puts 2020-12-31 and 2021-01-01 in the same week (2020-W53)', () => {
  const snapshots = [
    snap('2020-12-27', '2020-12-27T12:00:00Z'), // Sunday of W52
    snap('2020-12-31', '2020-12-31T12:00:00Z'),
    snap('2021-01-01', '2021-01-01T12:00:00Z'),
    snap('2021-01-03', '2021-01-03T12:00:00Z'), // Sunday of W53
    snap('2021-01-04', '2021-01-04T12:00:00Z'), // Monday of 2021-W01
  ];
  const group = onlyGroup(snapshots, { weekly: 3 });
  assert.deepEqual(
    group.keep.map((k) => k.id),
    ['2021-01-04', '2021-01-03', '2020-12-27'],
  );
  assert.deepEqual(group.remove, ['2021-01-01', '2020-12-31']);
  assert.deepEqual(keptIds(snapshots.slice(0, 3), { weekly: 5 }), ['2021-01-01', '2020-12-27']);
});

test('keep-monthly and keep-yearly keep the newest snapshot of each month and year', () => {
  assert.deepEqual(keptIds(YEAR_OF_HOURS, { monthly: 3 }), [
    '2024-02-04T23:30:00.000Z',
    '2024-01-31T23:30:00.000Z',
    '2023-12-31T23:30:00.000Z',
  ]);
  assert.deepEqual(keptIds(YEAR_OF_HOURS, { yearly: 2 }), ['2024-02-04T23:30:00.000Z', '2023-12-31T23:30:00.000Z']);
  assert.equal(keptIds(YEAR_OF_HOURS, { monthly: -1 }).length, 14);
});

test('a rule asking for more buckets than exist keeps one snapshot per existing bucket and no more', () => {
  assert.deepEqual(keptIds(YEAR_OF_HOURS, { yearly: 10 }), ['2024-02-04T23:30:00.000Z', '2023-12-31T23:30:00.000Z']);
});

test('days without snapshots are not buckets', () => {
  const snapshots = [
    snap('d1', '2024-06-01T08:00:00Z'),
    snap('d2-a', '2024-06-02T08:00:00Z'),
    snap('d2-b', '2024-06-02T18:00:00Z'),
    snap('d5', '2024-06-05T08:00:00Z'),
    snap('d9', '2024-06-09T08:00:00Z'),
    snap('d10-a', '2024-06-10T01:00:00Z'),
    snap('d10-b', '2024-06-10T02:00:00Z'),
  ];
  assert.deepEqual(keptIds(snapshots, { daily: 3 }), ['d10-b', 'd9', 'd5']);
  assert.deepEqual(keptIds(snapshots, { daily: 4 }), ['d10-b', 'd9', 'd5', 'd2-b']);
});

test('combined rules keep the union and list every rule that kept each snapshot', () => {
  const snapshots = [
    snap('jan-15', '2024-01-15T12:00:00Z'),
    snap('jan-31', '2024-01-31T12:00:00Z'),
    snap('feb-27', '2024-02-27T12:00:00Z'),
    snap('feb-28', '2024-02-28T12:00:00Z'),
    snap('feb-29-a', '2024-02-29T06:00:00Z'),
    snap('feb-29-b', '2024-02-29T18:00:00Z'),
  ];
  const group = onlyGroup(snapshots, { last: 2, daily: 3, monthly: 2 });
  assert.deepEqual(group.keep, [
    { id: 'feb-29-b', reasons: ['last', 'daily', 'monthly'] },
    { id: 'feb-29-a', reasons: ['last'] },
    { id: 'feb-28', reasons: ['daily'] },
    { id: 'feb-27', reasons: ['daily'] },
    { id: 'jan-31', reasons: ['monthly'] },
  ]);
  assert.deepEqual(group.remove, ['jan-15']);
});

test('a restic-style policy over 400 days keeps each snapshot once and accounts for every input', () => {
  const group = onlyGroup(YEAR_OF_HOURS, { last: 3, hourly: 24, daily: 7, weekly: 4, monthly: 12, yearly: -1 });
  const kept = group.keep.map((k) => k.id);
  assert.equal(new Set([...kept, ...group.remove]).size, YEAR_OF_HOURS.length);
  assert.equal(kept.length + group.remove.length, YEAR_OF_HOURS.length);
  // 24 hourly (covering the 3 last and all of Sunday 2024-02-04), 6 more days, 3 more ISO
  // weeks, 10 more months (January's newest is a kept day), and no more years (2023's
  // newest is a kept month).
  assert.deepEqual(group.keep.find((k) => k.id === '2024-02-04T23:30:00.000Z')?.reasons, [
    'last',
    'hourly',
    'daily',
    'weekly',
    'monthly',
    'yearly',
  ]);
  assert.deepEqual(group.keep.find((k) => k.id === '2023-12-31T23:30:00.000Z')?.reasons, ['monthly', 'yearly']);
  assert.deepEqual(group.keep.find((k) => k.id === '2023-03-31T23:30:00.000Z')?.reasons, ['monthly']);
  assert.equal(group.keep.find((k) => k.id === '2023-02-28T23:30:00.000Z'), undefined);
  assert.equal(kept.length, 24 + 6 + 3 + 10);
});

test('-1 keeps without limit', () => {
  assert.equal(keptIds(YEAR_OF_HOURS, { daily: -1 }).length, 400);
  assert.equal(keptIds(YEAR_OF_HOURS, { weekly: -1 }).length, 58); // 2022-W52 (Jan 1 2023) … 2024-W05
  assert.equal(keptIds(YEAR_OF_HOURS, { last: -1 }).length, YEAR_OF_HOURS.length);
  assert.equal(onlyGroup(YEAR_OF_HOURS, { hourly: -1 }).remove.length, 0);
});

test('a rule set to 0 keeps nothing by itself', () => {
  assert.deepEqual(keptIds(YEAR_OF_HOURS, { last: 1, daily: 0 }), ['2024-02-04T23:30:00.000Z']);
});

test('snapshots are grouped by host and paths by default, and each group is judged alone', () => {
  const snapshots = [
    snap('a1', '2024-05-01T10:00:00Z', { host: 'a', paths: ['/etc', '/srv'] }),
    snap('a2', '2024-05-02T10:00:00Z', { host: 'a', paths: ['/srv', '/etc'] }),
    snap('a-home', '2024-05-03T10:00:00Z', { host: 'a', paths: ['/home'] }),
    snap('b1', '2024-05-01T11:00:00Z', { host: 'b', paths: ['/etc', '/srv'] }),
    snap('b2', '2024-04-01T11:00:00Z', { host: 'b', paths: ['/etc', '/srv'] }),
  ];
  const { groups } = applyRetention(snapshots, { last: 1 });
  assert.deepEqual(groups, [
    { key: { host: 'a', paths: ['/etc', '/srv'] }, keep: [{ id: 'a2', reasons: ['last'] }], remove: ['a1'] },
    { key: { host: 'a', paths: ['/home'] }, keep: [{ id: 'a-home', reasons: ['last'] }], remove: [] },
    { key: { host: 'b', paths: ['/etc', '/srv'] }, keep: [{ id: 'b1', reasons: ['last'] }], remove: ['b2'] },
  ]);

  const byHost = applyRetention(snapshots, { last: 1 }, { groupBy: ['host'] }).groups;
  assert.deepEqual(
    byHost.map((g) => [g.key, g.keep.map((k) => k.id)]),
    [
      [{ host: 'a' }, ['a-home']],
      [{ host: 'b' }, ['b1']],
    ],
  );

  const all = applyRetention(snapshots, { last: 1 }, { groupBy: [] }).groups;
  assert.deepEqual(all.map((g) => [g.key, g.keep.map((k) => k.id), g.remove.length]), [[{}, ['a-home'], 4]]);
});

test('grouping by tags treats the same tags in any order as one group', () => {
  const snapshots = [
    snap('x', '2024-05-01T10:00:00Z', { tags: ['db', 'nightly'] }),
    snap('y', '2024-05-02T10:00:00Z', { tags: ['nightly', 'db'] }),
    snap('z', '2024-05-03T10:00:00Z', { tags: [] }),
  ];
  const { groups } = applyRetention(snapshots, { last: 1 }, { groupBy: ['tags', 'host'] });
  assert.deepEqual(
    groups.map((g) => [g.key, g.keep.map((k) => k.id), g.remove]),
    [
      [{ host: 'web-1', tags: [] }, ['z'], []],
      [{ host: 'web-1', tags: ['db', 'nightly'] }, ['y'], ['x']],
    ],
  );
});

test('within keeps every snapshot newer than the group latest minus the duration, per group', () => {
  const snapshots = [
    snap('a-old', '2024-05-01T10:00:00Z', { host: 'a' }),
    snap('a-edge', '2024-05-08T10:00:00Z', { host: 'a' }), // exactly latest − 2d: not newer
    snap('a-in', '2024-05-08T10:00:01Z', { host: 'a' }),
    snap('a-latest', '2024-05-10T10:00:00Z', { host: 'a' }),
    snap('b-only', '2023-01-01T00:00:00Z', { host: 'b' }),
  ];
  const { groups } = applyRetention(snapshots, { within: 2 * D });
  assert.deepEqual(
    groups.map((g) => [g.key.host, g.keep, g.remove]),
    [
      [
        'a',
        [
          { id: 'a-latest', reasons: ['within'] },
          { id: 'a-in', reasons: ['within'] },
        ],
        ['a-edge', 'a-old'],
      ],
      ['b', [{ id: 'b-only', reasons: ['within'] }], []],
    ],
  );
});

test('tags keeps every snapshot carrying any of the tags, alongside other rules', () => {
  const snapshots = [
    snap('plain-old', '2024-05-01T10:00:00Z'),
    snap('pinned', '2024-05-02T10:00:00Z', { tags: ['pinned'] }),
    snap('release', '2024-05-03T10:00:00Z', { tags: ['x', 'release'] }),
    snap('plain-new', '2024-05-04T10:00:00Z', { tags: ['pinned'] }),
  ];
  const group = onlyGroup(snapshots, { tags: ['pinned', 'release'], last: 1 });
  assert.deepEqual(group.keep, [
    { id: 'plain-new', reasons: ['last', 'tags'] },
    { id: 'release', reasons: ['tags'] },
    { id: 'pinned', reasons: ['tags'] },
  ]);
  assert.deepEqual(group.remove, ['plain-old']);
});

test('a policy that keeps nothing is refused, even with no snapshots, telling the user to give a --keep option', () => {
  const empties: RetentionPolicy[] = [{}, { last: 0 }, { daily: 0, weekly: 0, within: 0 }, { tags: [] }];
  for (const policy of empties) {
    assert.throws(
      () => applyRetention(YEAR_OF_HOURS, policy),
      (err: unknown) =>
        err instanceof Error &&
        (err as { code?: unknown }).code === 'BAD_REQUEST' &&
        /give at least one --keep option/.test(err.message),
      JSON.stringify(policy),
    );
    assert.throws(() => applyRetention([], policy), { code: 'BAD_REQUEST' });
  }
});

test('malformed rules, options and snapshots are refused with BAD_REQUEST naming the problem', () => {
  const bad: [RetentionPolicy, RegExp][] = [
    [{ last: -2 }, /"last" is -2/],
    [{ daily: 1.5 }, /"daily" is 1\.5/],
    [{ weekly: Number.NaN }, /"weekly" is NaN/],
    [{ yearly: Number.POSITIVE_INFINITY }, /"yearly" is Infinity/],
    [{ monthly: '3' as unknown as number }, /"monthly" is 3/],
    [{ within: -1 }, /"within" is -1/],
    [{ within: 1.5 }, /"within" is 1\.5/],
    [{ tags: [''] }, /"tags" must be a list of non-empty tag names/],
  ];
  for (const [policy, message] of bad) {
    assert.throws(() => applyRetention([], policy), { name: 'BulwarkError', code: 'BAD_REQUEST', message }, JSON.stringify(policy));
    assert.throws(() => validateRetentionPolicy(policy), { code: 'BAD_REQUEST' });
  }
  assert.throws(() => applyRetention([], { last: 1 }, { groupBy: ['node' as 'host'] }), {
    code: 'BAD_REQUEST',
    message: /cannot group snapshots by "node"/,
  });
  assert.throws(() => applyRetention([], { last: 1 }, { timeZone: 'Europe/Paris' as 'UTC' }), {
    code: 'BAD_REQUEST',
    message: /time zone "Europe\/Paris"/,
  });
  assert.throws(() => applyRetention([snap('a', '2024-01-01T00:00:00Z'), snap('a', '2024-01-02T00:00:00Z')], { last: 1 }), {
    code: 'BAD_REQUEST',
    message: /snapshot a is listed twice/,
  });
  assert.throws(() => applyRetention([{ ...snap('a', '2024-01-01T00:00:00Z'), time: Number.NaN }], { last: 1 }), {
    code: 'BAD_REQUEST',
    message: /snapshot a has no valid time/,
  });
});

test('no snapshots give no groups', () => {
  assert.deepEqual(applyRetention([], { last: 1 }), { groups: [] });
});

test('snapshots with equal times are ordered by id, whatever the input order', () => {
  const time = '2024-05-01T10:00:00Z';
  const forward = [snap('b', time), snap('a', time), snap('c', time)];
  const backward = [...forward].reverse();
  for (const input of [forward, backward]) {
    const group = onlyGroup(input, { last: 2, daily: 1 });
    assert.deepEqual(group.keep, [
      { id: 'a', reasons: ['last', 'daily'] },
      { id: 'b', reasons: ['last'] },
    ]);
    assert.deepEqual(group.remove, ['c']);
  }
});

test('the result does not depend on the order of the input', () => {
  const policy: RetentionPolicy = { last: 2, daily: 5, weekly: 3, monthly: 4 };
  const shuffled = [...YEAR_OF_HOURS].sort((a, b) => ((a.time * 7919) % 1009) - ((b.time * 7919) % 1009));
  assert.deepEqual(applyRetention(shuffled, policy), applyRetention(YEAR_OF_HOURS, policy));
});

test('timeZone local counts buckets on the local calendar; UTC ignores the process time zone', () => {
  const saved = process.env.TZ;
  // Etc/GMT+5 is a fixed UTC−5 (POSIX sign), so no daylight saving muddles the expectation.
  process.env.TZ = 'Etc/GMT+5';
  try {
    const snapshots = [
      snap('utc-jan1-20h', '2024-01-01T20:00:00Z'), // local Jan 1 15:00
      snap('utc-jan2-03h', '2024-01-02T03:00:00Z'), // local Jan 1 22:00
      snap('utc-jan2-06h', '2024-01-02T06:00:00Z'), // local Jan 2 01:00
    ];
    const daily = (options: { timeZone?: 'UTC' | 'local' }) =>
      applyRetention(snapshots, { daily: -1 }, options).groups[0]?.keep.map((k) => k.id);
    assert.deepEqual(daily({ timeZone: 'UTC' }), ['utc-jan2-06h', 'utc-jan1-20h']);
    assert.deepEqual(daily({}), ['utc-jan2-06h', 'utc-jan1-20h']);
    assert.deepEqual(daily({ timeZone: 'local' }), ['utc-jan2-06h', 'utc-jan2-03h']);

    // Both are Monday 2024-01-08 in UTC, but the first is Sunday 22:00 local: another ISO week.
    const weekBoundary = [snap('sun-local', '2024-01-08T03:00:00Z'), snap('mon-local', '2024-01-08T06:00:00Z')];
    assert.equal(applyRetention(weekBoundary, { weekly: -1 }).groups[0]?.keep.length, 1);
    assert.equal(applyRetention(weekBoundary, { weekly: -1 }, { timeZone: 'local' }).groups[0]?.keep.length, 2);
  } finally {
    if (saved === undefined) delete process.env.TZ;
    else process.env.TZ = saved;
  }
});

test('parseRetentionFlags reads counts, -1, durations and tags', () => {
  assert.deepEqual(
    parseRetentionFlags({
      keepLast: '3',
      keepHourly: '24',
      keepDaily: ' 7 ',
      keepWeekly: '4',
      keepMonthly: '-1',
      keepYearly: '0',
      keepWithin: '1y6m',
      keepTag: ['pinned', 'release', 'pinned'],
    }),
    { last: 3, hourly: 24, daily: 7, weekly: 4, monthly: -1, yearly: 0, within: 545 * D, tags: ['pinned', 'release'] },
  );
  assert.deepEqual(parseRetentionFlags({ keepWithin: '30d' }), { within: 30 * D });
  assert.deepEqual(parseRetentionFlags({ keepTag: ['keep'] }), { tags: ['keep'] });
  assert.ok(Object.is(parseRetentionFlags({ keepLast: '1', keepDaily: '-0' }).daily, 0));
});

test('parseRetentionFlags refuses bad values with BAD_REQUEST naming the flag', () => {
  const bad: [Parameters<typeof parseRetentionFlags>[0], RegExp][] = [
    [{ keepLast: 'three' }, /^--keep-last "three" is invalid/],
    [{ keepHourly: '' }, /^--keep-hourly "" is invalid/],
    [{ keepDaily: '-2' }, /^--keep-daily "-2" is invalid/],
    [{ keepWeekly: '1.5' }, /^--keep-weekly "1\.5" is invalid/],
    [{ keepMonthly: '1e3' }, /^--keep-monthly "1e3" is invalid/],
    [{ keepYearly: '99999999999999999999' }, /^--keep-yearly "99999999999999999999" is invalid/],
    [{ keepWithin: '30' }, /^--keep-within "30" is invalid/],
    [{ keepWithin: '1.5d' }, /^--keep-within "1\.5d" is invalid/],
    [{ keepTag: [' '] }, /^--keep-tag needs a tag name/],
    [{}, /give at least one --keep option/],
    [{ keepLast: '0', keepTag: [] }, /give at least one --keep option/],
  ];
  for (const [flags, message] of bad) {
    assert.throws(() => parseRetentionFlags(flags), { name: 'BulwarkError', code: 'BAD_REQUEST', message }, JSON.stringify(flags));
  }
});

test('parseKeepWithin reads y=365d, m=30d, w, d and h, alone or combined', () => {
  assert.equal(parseKeepWithin('30d'), 30 * D);
  assert.equal(parseKeepWithin('2w'), 14 * D);
  assert.equal(parseKeepWithin('12h'), 12 * H);
  assert.equal(parseKeepWithin('1y'), 365 * D);
  assert.equal(parseKeepWithin('1m'), 30 * D);
  assert.equal(parseKeepWithin('1y6m'), 545 * D);
  assert.equal(parseKeepWithin('1w2d3h'), 9 * D + 3 * H);
  assert.equal(parseKeepWithin(' 0d5h '), 5 * H);
  for (const text of ['', '  ', '5', 'd', '1s', '1M', '1D', '0d', '-1d', '1 d', '1d 2h', '1.5d', '1e3d', 'd1', '1d,2h']) {
    assert.throws(
      () => parseKeepWithin(text),
      { code: 'BAD_REQUEST', message: /^--keep-within ".*" is invalid: use numbers with units y \(365 days\), m \(30 days\), w, d or h/ },
      JSON.stringify(text),
    );
  }
});
