import type { Severity } from '../model.js';
import { debianCodename } from './advisory.js';
import type { Advisory, AffectedRange, ParsedAdvisories } from './advisory.js';
import { compareDebianVersions } from './debian-version.js';
import {
  arrayAt,
  clampSummary,
  debianVersionAt,
  idAt,
  invalidAdvisories,
  isObject,
  objectAt,
  optionalStringAt,
  packageNameAt,
  stringAt,
  stringListAt,
} from './json-input.js';
import type { JsonInput, JsonObject } from './json-input.js';
import { cvss3BaseScore, severityFromScore, severityFromUrgency, worseSeverity } from './severity.js';

/**
 * OSV records (https://ossf.github.io/osv-schema/) for Debian ecosystems
 * (`Debian`, `Debian:<release number>`), as osv.dev and Debian's own DSA/DLA
 * exports publish them. Other ecosystems are ignored: a record with no Debian
 * package, an empty `affected` list, or a `withdrawn` date is skipped and
 * counted. Debian names source packages in OSV.
 */
const REMEDY = 'correct or remove this record (OSV schema: https://ossf.github.io/osv-schema/)';

/** Accepts one record, an array of records, or `{vulns: [...]}` (the osv.dev query answer). */
export function parseOsvRecords(json: unknown, file: string): Advisory[] {
  return readOsvRecords(json, file).advisories;
}

/** `parseOsvRecords`, also counting the records skipped. */
export function readOsvRecords(json: unknown, file: string): ParsedAdvisories {
  const input: JsonInput = { file, remedy: REMEDY };
  const records = osvRecordList(input, json);
  const advisories: Advisory[] = [];
  let skipped = 0;
  records.forEach((record, index) => {
    const advisory = readRecord(input, record, index);
    if (advisory) advisories.push(advisory);
    else skipped++;
  });
  return { advisories, skipped };
}

function osvRecordList(input: JsonInput, json: unknown): unknown[] {
  if (Array.isArray(json)) return json;
  if (isObject(json) && 'vulns' in json) return arrayAt(input, json.vulns, 'vulns');
  if (isObject(json)) return [json];
  throw invalidAdvisories(input, '', 'expected an OSV record, an array of them, or {"vulns": [...]}');
}

function readRecord(input: JsonInput, value: unknown, index: number): Advisory | undefined {
  const record = objectAt(input, value, `record #${index + 1}`);
  const id = idAt(input, record.id, `record #${index + 1}, id`);
  const at = (field: string): string => `record ${id}, ${field}`;
  if (optionalStringAt(input, record.withdrawn, at('withdrawn')) !== undefined) return undefined;

  // The record's own fields are checked even when it turns out to hold nothing for Debian.
  const aliases = [...idListAt(input, record.aliases, at('aliases')), ...idListAt(input, record.upstream, at('upstream'))];
  const summary = optionalStringAt(input, record.summary, at('summary')) ?? firstLine(optionalStringAt(input, record.details, at('details')) ?? '');
  const refs = references(input, record.references, at('references'));
  const published = optionalStringAt(input, record.published, at('published'));
  const modified = optionalStringAt(input, record.modified, at('modified'));
  const affectedList = record.affected === undefined ? [] : arrayAt(input, record.affected, at('affected'));
  const entries = affectedList.flatMap((entry, i) => {
    const read = readAffected(input, entry, at(`affected[${i}]`));
    return read ? [read] : [];
  });
  if (entries.length === 0) return undefined;

  // CVSS, when it can be scored, decides; then Debian's urgency per release; then medium.
  const vectors = [...cvssVectors(input, record.severity, at('severity')), ...entries.flatMap((e) => e.vectors)];
  const scores = vectors.map(cvss3BaseScore).filter((s): s is number => s !== undefined);
  const urgencies = entries.map((e) => e.urgency).filter((s): s is Severity => s !== undefined);
  const severity =
    scores.length > 0 ? severityFromScore(Math.max(...scores)) : urgencies.length > 0 ? urgencies.reduce(worseSeverity) : 'medium';
  const affected = entries.flatMap((e) =>
    e.ranges.map((range) => (scores.length === 0 && e.urgency !== undefined && e.urgency !== severity ? { ...range, severity: e.urgency } : range)),
  );

  const advisory: Advisory = {
    id,
    aliases: [...new Set(aliases)].filter((alias) => alias !== id),
    summary: clampSummary(summary),
    severity,
    references: refs,
    origin: 'osv',
    affected,
  };
  if (published !== undefined) advisory.published = published;
  if (modified !== undefined) advisory.modified = modified;
  return advisory;
}

interface AffectedEntry {
  ranges: AffectedRange[];
  urgency?: Severity;
  vectors: string[];
}

const DEBIAN_ECOSYSTEM = /^Debian(?::(.+))?$/;

function readAffected(input: JsonInput, value: unknown, where: string): AffectedEntry | undefined {
  const entry = objectAt(input, value, where);
  // Entries without a package describe git ranges of upstream repositories.
  if (entry.package === undefined) return undefined;
  const pkg = objectAt(input, entry.package, `${where}.package`);
  const ecosystem = DEBIAN_ECOSYSTEM.exec(stringAt(input, pkg.ecosystem, `${where}.package.ecosystem`));
  if (!ecosystem) return undefined;
  let release: string | undefined;
  if (ecosystem[1] !== undefined) {
    release = debianCodename(ecosystem[1]);
    // A release Bulwark has no codename for cannot match any node.
    if (release === undefined) return undefined;
  }
  const name = packageNameAt(input, pkg.name, `${where}.package.name`);
  const base: AffectedRange = { package: name, packageKind: 'source' };
  if (release !== undefined) base.release = release;

  const ranges: AffectedRange[] = [];
  const rangeList = entry.ranges === undefined ? [] : arrayAt(input, entry.ranges, `${where}.ranges`);
  rangeList.forEach((r, i) => ranges.push(...readRange(input, r, `${where}.ranges[${i}]`, base)));
  // Listed versions are affected too (OSV: ranges OR versions); add those no range covers.
  const versions = stringListAt(input, entry.versions, `${where}.versions`).map((v, i) => debianVersionAt(input, v, `${where}.versions[${i}]`));
  for (const version of versions) {
    if (!ranges.some((range) => covers(range, version))) ranges.push({ ...base, introduced: version, lastAffected: version });
  }
  if (ranges.length === 0) return undefined;

  const urgency = urgencyOf(input, entry.ecosystem_specific, `${where}.ecosystem_specific`) ?? urgencyOf(input, entry.database_specific, `${where}.database_specific`);
  const read: AffectedEntry = { ranges, vectors: cvssVectors(input, entry.severity, `${where}.severity`) };
  if (urgency !== undefined) read.urgency = urgency;
  return read;
}

type OsvEvent = { kind: 'introduced' | 'fixed' | 'last_affected'; version: string };

const EVENT_KINDS = ['introduced', 'fixed', 'last_affected', 'limit'] as const;

/** One ECOSYSTEM range's events, sorted by version and walked into intervals as the OSV evaluation algorithm does. */
function readRange(input: JsonInput, value: unknown, where: string, base: AffectedRange): AffectedRange[] {
  const range = objectAt(input, value, where);
  const type = stringAt(input, range.type, `${where}.type`);
  // Debian data is ECOSYSTEM only; SEMVER and GIT ranges do not describe Debian versions.
  if (type !== 'ECOSYSTEM') return [];
  const events: OsvEvent[] = [];
  arrayAt(input, range.events, `${where}.events`).forEach((e, i) => {
    const at = `${where}.events[${i}]`;
    const event = objectAt(input, e, at);
    const kinds = EVENT_KINDS.filter((k) => event[k] !== undefined);
    const kind = kinds[0];
    if (kind === undefined || kinds.length > 1) throw invalidAdvisories(input, at, 'expected exactly one of introduced, fixed, last_affected, limit');
    // `limit` only bounds a search through git history.
    if (kind === 'limit') return;
    const raw = stringAt(input, event[kind], `${at}.${kind}`);
    // "0" is OSV's "from the beginning", not a Debian version.
    const version = kind === 'introduced' && raw === '0' ? '0' : debianVersionAt(input, raw, `${at}.${kind}`);
    events.push({ kind, version });
  });
  events.sort((a, b) => eventOrder(a.version) - eventOrder(b.version) || (a.version === '0' ? 0 : compareDebianVersions(a.version, b.version)));

  const out: AffectedRange[] = [];
  let open = false;
  let introduced: string | undefined;
  for (const event of events) {
    if (event.kind === 'introduced') {
      if (!open) introduced = event.version === '0' ? undefined : event.version;
      open = true;
      continue;
    }
    if (!open) continue;
    const closed: AffectedRange = { ...base };
    if (introduced !== undefined) closed.introduced = introduced;
    if (event.kind === 'fixed') closed.fixed = event.version;
    else closed.lastAffected = event.version;
    out.push(closed);
    open = false;
  }
  if (open) out.push(introduced === undefined ? { ...base } : { ...base, introduced });
  return out;
}

/** "0" sorts before every version. */
function eventOrder(version: string): number {
  return version === '0' ? 0 : 1;
}

function covers(range: AffectedRange, version: string): boolean {
  if (range.introduced !== undefined && compareDebianVersions(version, range.introduced) < 0) return false;
  if (range.fixed !== undefined) return compareDebianVersions(version, range.fixed) < 0;
  if (range.lastAffected !== undefined) return compareDebianVersions(version, range.lastAffected) <= 0;
  return true;
}

function urgencyOf(input: JsonInput, value: unknown, where: string): Severity | undefined {
  if (value === undefined) return undefined;
  const urgency = optionalStringAt(input, objectAt(input, value, where).urgency, `${where}.urgency`);
  return urgency === undefined ? undefined : severityFromUrgency(urgency);
}

/** The CVSS v3 vectors of an OSV `severity` list; other score types are left to the fallbacks. */
function cvssVectors(input: JsonInput, value: unknown, where: string): string[] {
  if (value === undefined) return [];
  return arrayAt(input, value, where).flatMap((item, i) => {
    const entry: JsonObject = objectAt(input, item, `${where}[${i}]`);
    const type = stringAt(input, entry.type, `${where}[${i}].type`);
    return type === 'CVSS_V3' ? [stringAt(input, entry.score, `${where}[${i}].score`)] : [];
  });
}

function references(input: JsonInput, value: unknown, where: string): string[] {
  if (value === undefined) return [];
  const urls = arrayAt(input, value, where).map((item, i) => stringAt(input, objectAt(input, item, `${where}[${i}]`).url, `${where}[${i}].url`));
  return [...new Set(urls.filter((url) => /^https?:\/\//.test(url)))];
}

function idListAt(input: JsonInput, value: unknown, where: string): string[] {
  return stringListAt(input, value, where).map((id, i) => idAt(input, id, `${where}[${i}]`));
}

function firstLine(text: string): string {
  return text.split('\n').find((line) => line.trim() !== '')?.trim() ?? '';
}
