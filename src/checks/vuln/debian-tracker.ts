import type { Severity } from '../model.js';
import type { Advisory, AffectedRange, ParsedAdvisories } from './advisory.js';
import { clampSummary, debianVersionAt, idAt, invalidAdvisories, objectAt, optionalStringAt, packageNameAt, stringAt } from './json-input.js';
import type { JsonInput, JsonObject } from './json-input.js';
import { severityFromUrgency, worseSeverity } from './severity.js';

/**
 * The Debian security tracker's JSON (https://security-tracker.debian.org/tracker/data/json):
 * `{source package: {issue id: {description, scope, debianbug, releases: {codename: {status, fixed_version, urgency}}}}}`.
 * One advisory per issue id, gathering every source package it names; one range
 * per (package, release). The tracker decides per release, so its fixed
 * versions are the backported ones (`2.36-9+deb12u3` for bookworm).
 */

const REMEDY = 'give the tracker JSON as published at https://security-tracker.debian.org/tracker/data/json';
const STATUSES = ['resolved', 'open', 'undetermined'] as const;
const RELEASE = /^[a-z][a-z0-9-]{0,31}$/;

export function parseDebianTracker(json: unknown, file: string): Advisory[] {
  return readDebianTracker(json, file).advisories;
}

/** `parseDebianTracker`, also counting the (package, issue) entries skipped for naming no release. */
export function readDebianTracker(json: unknown, file: string): ParsedAdvisories {
  const input: JsonInput = { file, remedy: REMEDY };
  const byId = new Map<string, Advisory>();
  let skipped = 0;
  for (const [pkgKey, issues] of Object.entries(objectAt(input, json, ''))) {
    const pkg = packageNameAt(input, pkgKey, `package ${JSON.stringify(pkgKey)}`);
    for (const [idKey, issueValue] of Object.entries(objectAt(input, issues, `package ${pkg}`))) {
      const id = idAt(input, idKey, `package ${pkg}, issue ${JSON.stringify(idKey)}`);
      const at = (field: string): string => `package ${pkg}, ${id}, ${field}`;
      const issue = objectAt(input, issueValue, `package ${pkg}, ${id}`);
      const ranges = readReleases(input, pkg, issue.releases, at('releases'));
      if (ranges.length === 0) {
        skipped++;
        continue;
      }
      const advisory = byId.get(id) ?? newAdvisory(input, id, issue, at);
      byId.set(id, advisory);
      advisory.affected.push(...ranges);
      const bug = issue.debianbug;
      if (bug !== undefined) {
        if (typeof bug !== 'number' || !Number.isSafeInteger(bug) || bug <= 0) throw invalidAdvisories(input, at('debianbug'), 'expected a bug number');
        const url = `https://bugs.debian.org/${bug}`;
        if (!advisory.references.includes(url)) advisory.references.push(url);
      }
    }
  }
  const advisories = [...byId.values()].map(settleSeverity);
  return { advisories, skipped };
}

function newAdvisory(input: JsonInput, id: string, issue: JsonObject, at: (field: string) => string): Advisory {
  const advisory: Advisory = {
    id,
    aliases: [],
    summary: clampSummary(optionalStringAt(input, issue.description, at('description')) ?? ''),
    severity: 'medium',
    references: [`https://security-tracker.debian.org/tracker/${id}`],
    origin: 'debian-tracker',
    affected: [],
  };
  const scope = optionalStringAt(input, issue.scope, at('scope'));
  if (scope === 'local' || scope === 'remote') advisory.scope = scope;
  return advisory;
}

function readReleases(input: JsonInput, pkg: string, value: unknown, where: string): AffectedRange[] {
  // The tracker's PHP-style encoder writes an empty map as [].
  if (Array.isArray(value) && value.length === 0) return [];
  const out: AffectedRange[] = [];
  for (const [release, entryValue] of Object.entries(objectAt(input, value, where))) {
    const at = `${where}.${release}`;
    if (!RELEASE.test(release)) throw invalidAdvisories(input, at, `${JSON.stringify(release.slice(0, 40))} is not a Debian release codename`);
    const entry = objectAt(input, entryValue, at);
    const status = stringAt(input, entry.status, `${at}.status`);
    if (!(STATUSES as readonly string[]).includes(status)) {
      throw invalidAdvisories(input, `${at}.status`, `${JSON.stringify(status.slice(0, 40))} is not one of ${STATUSES.join(', ')}`);
    }
    const range: AffectedRange = { release, package: pkg, packageKind: 'source' };
    if (status === 'resolved') {
      const fixed = stringAt(input, entry.fixed_version, `${at}.fixed_version`);
      // Fixed "in version 0": this release never had the vulnerable code.
      if (fixed.trim() === '0') range.notAffected = true;
      else range.fixed = debianVersionAt(input, fixed, `${at}.fixed_version`);
    }
    // open and undetermined: no fix for this release (undetermined is reported rather than assumed safe).
    const urgency = optionalStringAt(input, entry.urgency, `${at}.urgency`);
    const severity = urgency === undefined ? undefined : severityFromUrgency(urgency);
    if (severity !== undefined) range.severity = severity;
    out.push(range);
  }
  return out;
}

/**
 * The advisory's severity is the worst urgency any release gives it (medium when
 * none is assigned); a range keeps its own only when that differs.
 */
function settleSeverity(advisory: Advisory): Advisory {
  const known = advisory.affected.map((r) => r.severity).filter((s): s is Severity => s !== undefined);
  advisory.severity = known.length > 0 ? known.reduce(worseSeverity) : 'medium';
  for (const range of advisory.affected) {
    if (range.severity === advisory.severity) delete range.severity;
  }
  return advisory;
}
