import { BulwarkError } from '../core/errors.js';

/** What retention needs to know about one snapshot. */
export interface RetentionSnapshot {
  id: string;
  /** Milliseconds since the epoch. */
  time: number;
  host: string;
  paths: string[];
  tags: string[];
}

/**
 * Which snapshots to keep, as with `restic forget --keep-*`. Counts are whole
 * numbers; 0 keeps nothing by that rule and -1 keeps without limit.
 */
export interface RetentionPolicy {
  /** Keep the newest N snapshots. */
  last?: number;
  /** Keep the newest snapshot of each of the N newest hours that have one. */
  hourly?: number;
  daily?: number;
  /** Weeks are ISO 8601 weeks (Monday to Sunday, numbered by ISO week-year). */
  weekly?: number;
  monthly?: number;
  yearly?: number;
  /** Milliseconds: keep every snapshot newer than the group's latest minus this. */
  within?: number;
  /** Keep every snapshot that carries any of these tags. */
  tags?: string[];
}

export type RetentionGroupField = 'host' | 'paths' | 'tags';

export interface RetentionOptions {
  /** Snapshots are grouped by these fields and the policy applies to each group alone. Default `['host', 'paths']`. */
  groupBy?: RetentionGroupField[];
  /** The calendar that hours, days, weeks, months and years are counted in. Default `'UTC'`. */
  timeZone?: 'UTC' | 'local';
}

export interface RetentionGroupKey {
  host?: string;
  paths?: string[];
  tags?: string[];
}

export type RetentionReason = 'last' | 'hourly' | 'daily' | 'weekly' | 'monthly' | 'yearly' | 'within' | 'tags';

export interface RetentionGroup {
  key: RetentionGroupKey;
  /** Newest first, with every rule that kept the snapshot. */
  keep: { id: string; reasons: RetentionReason[] }[];
  /** Ids of the snapshots to forget, newest first. */
  remove: string[];
}

export interface RetentionResult {
  groups: RetentionGroup[];
}

type CountRule = 'last' | 'hourly' | 'daily' | 'weekly' | 'monthly' | 'yearly';

const COUNT_RULES: readonly CountRule[] = ['last', 'hourly', 'daily', 'weekly', 'monthly', 'yearly'];
const GROUP_FIELDS: readonly RetentionGroupField[] = ['host', 'paths', 'tags'];
const DEFAULT_GROUP_BY: readonly RetentionGroupField[] = ['host', 'paths'];

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/**
 * Decides which snapshots a policy keeps. Within each group snapshots are taken
 * newest first (equal times by ascending id); a bucket rule keeps the newest
 * snapshot of each of the N newest hours/days/ISO weeks/months/years that hold
 * a snapshot. A snapshot kept by any rule is kept.
 *
 * @example
 * applyRetention(snapshots, { last: 3, daily: 7, monthly: -1 });
 */
export function applyRetention(
  snapshots: RetentionSnapshot[],
  policy: RetentionPolicy,
  options: RetentionOptions = {},
): RetentionResult {
  validateRetentionPolicy(policy);
  const groupBy = normaliseGroupBy(options.groupBy);
  const timeZone = options.timeZone ?? 'UTC';
  if (timeZone !== 'UTC' && timeZone !== 'local') {
    throw new BulwarkError('BAD_REQUEST', `retention time zone "${String(timeZone)}" is not supported: use UTC or local`);
  }
  validateSnapshots(snapshots);

  const groups = new Map<string, { key: RetentionGroupKey; members: RetentionSnapshot[] }>();
  for (const snapshot of snapshots) {
    const key = groupKey(snapshot, groupBy);
    const id = JSON.stringify([key.host ?? null, key.paths ?? null, key.tags ?? null]);
    const group = groups.get(id);
    if (group) group.members.push(snapshot);
    else groups.set(id, { key, members: [snapshot] });
  }

  const ordered = [...groups.values()].sort((a, b) => compareKeys(a.key, b.key));
  return { groups: ordered.map((group) => applyToGroup(group.key, group.members, policy, timeZone)) };
}

/**
 * Refuses a policy that is malformed or keeps nothing at all, which would
 * forget every snapshot.
 */
export function validateRetentionPolicy(policy: RetentionPolicy): void {
  for (const rule of COUNT_RULES) {
    const value: unknown = policy[rule];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < -1) {
      throw new BulwarkError(
        'BAD_REQUEST',
        `retention rule "${rule}" is ${String(value)}: give a whole number of snapshots to keep, or -1 for unlimited`,
      );
    }
  }
  const within: unknown = policy.within;
  if (within !== undefined && (typeof within !== 'number' || !Number.isSafeInteger(within) || within < 0)) {
    throw new BulwarkError('BAD_REQUEST', `retention rule "within" is ${String(within)}: give a duration of zero or more whole milliseconds`);
  }
  const tags: unknown = policy.tags;
  if (tags !== undefined && (!Array.isArray(tags) || tags.some((tag) => typeof tag !== 'string' || tag === ''))) {
    throw new BulwarkError('BAD_REQUEST', 'retention rule "tags" must be a list of non-empty tag names');
  }
  if (!keepsAnything(policy)) {
    throw new BulwarkError(
      'BAD_REQUEST',
      'the retention policy keeps no snapshot and would forget them all: give at least one --keep option (e.g. --keep-last 1)',
    );
  }
}

function keepsAnything(policy: RetentionPolicy): boolean {
  return (
    COUNT_RULES.some((rule) => (policy[rule] ?? 0) !== 0) || (policy.within ?? 0) > 0 || (policy.tags ?? []).length > 0
  );
}

function normaliseGroupBy(groupBy: RetentionGroupField[] | undefined): RetentionGroupField[] {
  const fields = groupBy ?? DEFAULT_GROUP_BY;
  for (const field of fields) {
    if (!GROUP_FIELDS.includes(field)) {
      throw new BulwarkError('BAD_REQUEST', `cannot group snapshots by "${String(field)}": use host, paths or tags`);
    }
  }
  return GROUP_FIELDS.filter((field) => fields.includes(field));
}

function validateSnapshots(snapshots: RetentionSnapshot[]): void {
  const seen = new Set<string>();
  for (const snapshot of snapshots) {
    if (seen.has(snapshot.id)) {
      throw new BulwarkError('BAD_REQUEST', `snapshot ${snapshot.id} is listed twice: give each snapshot once`);
    }
    seen.add(snapshot.id);
    if (!Number.isFinite(snapshot.time)) {
      throw new BulwarkError('BAD_REQUEST', `snapshot ${snapshot.id} has no valid time`);
    }
  }
}

function groupKey(snapshot: RetentionSnapshot, groupBy: RetentionGroupField[]): RetentionGroupKey {
  const key: RetentionGroupKey = {};
  // Sorted copies: the same set of paths or tags given in another order is the same group.
  if (groupBy.includes('host')) key.host = snapshot.host;
  if (groupBy.includes('paths')) key.paths = [...snapshot.paths].sort(compareStrings);
  if (groupBy.includes('tags')) key.tags = [...new Set(snapshot.tags)].sort(compareStrings);
  return key;
}

function applyToGroup(
  key: RetentionGroupKey,
  members: RetentionSnapshot[],
  policy: RetentionPolicy,
  timeZone: 'UTC' | 'local',
): RetentionGroup {
  const sorted = [...members].sort((a, b) => b.time - a.time || compareStrings(a.id, b.id));
  const latest = sorted[0]?.time ?? 0;
  const within = policy.within ?? 0;
  const keepTags = new Set(policy.tags ?? []);

  const counters = COUNT_RULES.map((rule) => ({ rule, left: policy[rule] ?? 0, lastBucket: undefined as number | undefined }));
  const keep: RetentionGroup['keep'] = [];
  const remove: string[] = [];

  sorted.forEach((snapshot, index) => {
    const reasons: RetentionReason[] = [];
    const calendar = calendarOf(snapshot.time, timeZone);
    for (const counter of counters) {
      if (counter.left === 0) continue;
      const bucket = counter.rule === 'last' ? index : bucketOf(counter.rule, calendar);
      if (bucket === counter.lastBucket) continue;
      counter.lastBucket = bucket;
      if (counter.left > 0) counter.left -= 1;
      reasons.push(counter.rule);
    }
    if (within > 0 && snapshot.time > latest - within) reasons.push('within');
    if (snapshot.tags.some((tag) => keepTags.has(tag))) reasons.push('tags');

    if (reasons.length > 0) keep.push({ id: snapshot.id, reasons });
    else remove.push(snapshot.id);
  });

  return { key, keep, remove };
}

interface Calendar {
  year: number;
  /** 1–12. */
  month: number;
  day: number;
  hour: number;
}

function calendarOf(time: number, timeZone: 'UTC' | 'local'): Calendar {
  const date = new Date(time);
  return timeZone === 'UTC'
    ? { year: date.getUTCFullYear(), month: date.getUTCMonth() + 1, day: date.getUTCDate(), hour: date.getUTCHours() }
    : { year: date.getFullYear(), month: date.getMonth() + 1, day: date.getDate(), hour: date.getHours() };
}

function bucketOf(rule: Exclude<CountRule, 'last'>, c: Calendar): number {
  switch (rule) {
    case 'hourly':
      return ((c.year * 100 + c.month) * 100 + c.day) * 100 + c.hour;
    case 'daily':
      return (c.year * 100 + c.month) * 100 + c.day;
    case 'weekly': {
      const { year, week } = isoWeek(c.year, c.month, c.day);
      return year * 100 + week;
    }
    case 'monthly':
      return c.year * 100 + c.month;
    case 'yearly':
      return c.year;
  }
}

/**
 * The ISO 8601 week of a calendar date: weeks run Monday to Sunday and belong to
 * the year that holds their Thursday, so 2021-01-01 (a Friday) is in 2020-W53.
 */
export function isoWeek(year: number, month: number, day: number): { year: number; week: number } {
  // The date's own wall-clock fields are already chosen; plain UTC arithmetic keeps DST out of it.
  const date = Date.UTC(year, month - 1, day);
  const weekday = (new Date(date).getUTCDay() + 6) % 7; // Monday 0 … Sunday 6
  const thursday = new Date(date + (3 - weekday) * DAY_MS);
  const weekYear = thursday.getUTCFullYear();
  const dayOfYear = (thursday.getTime() - Date.UTC(weekYear, 0, 1)) / DAY_MS;
  return { year: weekYear, week: Math.floor(dayOfYear / 7) + 1 };
}

function compareKeys(a: RetentionGroupKey, b: RetentionGroupKey): number {
  return (
    compareStrings(a.host ?? '', b.host ?? '') ||
    compareLists(a.paths ?? [], b.paths ?? []) ||
    compareLists(a.tags ?? [], b.tags ?? [])
  );
}

function compareLists(a: string[], b: string[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const order = compareStrings(a[i] ?? '', b[i] ?? '');
    if (order !== 0) return order;
  }
  return a.length - b.length;
}

// Ordinal comparison, not localeCompare: the order must not depend on the machine's locale.
function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export interface RetentionFlags {
  keepLast?: string;
  keepHourly?: string;
  keepDaily?: string;
  keepWeekly?: string;
  keepMonthly?: string;
  keepYearly?: string;
  keepWithin?: string;
  keepTag?: string[];
}

const COUNT_FLAGS: readonly { flag: Exclude<keyof RetentionFlags, 'keepWithin' | 'keepTag'>; option: string; rule: CountRule }[] = [
  { flag: 'keepLast', option: '--keep-last', rule: 'last' },
  { flag: 'keepHourly', option: '--keep-hourly', rule: 'hourly' },
  { flag: 'keepDaily', option: '--keep-daily', rule: 'daily' },
  { flag: 'keepWeekly', option: '--keep-weekly', rule: 'weekly' },
  { flag: 'keepMonthly', option: '--keep-monthly', rule: 'monthly' },
  { flag: 'keepYearly', option: '--keep-yearly', rule: 'yearly' },
];

/**
 * Turns the CLI's `--keep-*` strings into a policy, refusing malformed values
 * (naming the flag) and a policy that would keep nothing.
 *
 * @example
 * parseRetentionFlags({ keepDaily: '7', keepWithin: '1y6m', keepTag: ['pinned'] });
 * // → { daily: 7, within: 545 days in ms, tags: ['pinned'] }
 */
export function parseRetentionFlags(flags: RetentionFlags): RetentionPolicy {
  const policy: RetentionPolicy = {};
  for (const { flag, option, rule } of COUNT_FLAGS) {
    const text = flags[flag];
    if (text === undefined) continue;
    policy[rule] = parseCount(option, text);
  }
  if (flags.keepWithin !== undefined) policy.within = parseKeepWithin(flags.keepWithin);
  if (flags.keepTag !== undefined) {
    const tags = flags.keepTag.map((tag) => tag.trim());
    if (tags.some((tag) => tag === '')) {
      throw new BulwarkError('BAD_REQUEST', '--keep-tag needs a tag name, e.g. --keep-tag pinned');
    }
    if (tags.length > 0) policy.tags = [...new Set(tags)];
  }
  validateRetentionPolicy(policy);
  return policy;
}

function parseCount(option: string, text: string): number {
  const trimmed = text.trim();
  const value = Number(trimmed);
  if (!/^-?\d+$/.test(trimmed) || !Number.isSafeInteger(value) || value < -1) {
    throw new BulwarkError(
      'BAD_REQUEST',
      `${option} "${text}" is invalid: give a whole number of snapshots to keep, or -1 for unlimited`,
    );
  }
  // "-0" would otherwise survive as negative zero.
  return value === 0 ? 0 : value;
}

// Calendar units as fixed lengths, as `--keep-within` documents: a year is 365 days, a month 30.
const WITHIN_UNITS: Record<string, number> = { y: 365 * DAY_MS, m: 30 * DAY_MS, w: 7 * DAY_MS, d: DAY_MS, h: HOUR_MS };

/** Parses `--keep-within` durations such as `30d`, `2w`, `12h`, `1y6m` into milliseconds. */
export function parseKeepWithin(text: string): number {
  const trimmed = text.trim();
  const re = /(\d+)([ymwdh])/gy;
  let total = 0;
  let consumed = 0;
  for (let match = re.exec(trimmed); match; match = re.exec(trimmed)) {
    total += Number(match[1]) * (WITHIN_UNITS[match[2] ?? ''] ?? 0);
    consumed = re.lastIndex;
  }
  if (trimmed === '' || consumed !== trimmed.length || total <= 0 || !Number.isSafeInteger(total)) {
    throw new BulwarkError(
      'BAD_REQUEST',
      `--keep-within "${text}" is invalid: use numbers with units y (365 days), m (30 days), w, d or h, e.g. 30d, 2w, 12h, 1y6m`,
    );
  }
  return total;
}
