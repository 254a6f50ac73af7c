import type { Severity } from '../model.js';

/**
 * The normalised advisory every importer produces and the matcher consumes.
 * Plain JSON data, so the server can store it as it is and hand it to agents.
 */
export interface Advisory {
  /** `DSA-5532-1`, `DLA-3008-1`, `CVE-2023-4911`, `TEMP-0000000-A2EB44`, … */
  id: string;
  /** Other ids of the same problem (CVE ids of a DSA, the OSV `upstream` ids), without `id` itself. */
  aliases: string[];
  summary: string;
  severity: Severity;
  published?: string;
  modified?: string;
  references: string[];
  origin: 'osv' | 'debian-tracker';
  /** The tracker's attack vector, when it gives one. */
  scope?: 'local' | 'remote';
  affected: AffectedRange[];
}

export interface AffectedRange {
  /** Debian codename (`bookworm`, `bullseye`, `sid`, …); undefined means every release. */
  release?: string;
  package: string;
  /** Whether `package` names a source package (compared with the source version) or a binary one. */
  packageKind: 'source' | 'binary';
  /** First affected version (inclusive); undefined means every version before the bound. */
  introduced?: string;
  /** First fixed version (exclusive bound); absent with no `lastAffected` means no fix yet. */
  fixed?: string;
  /** Last affected version (inclusive bound), for OSV `last_affected` events and listed versions. */
  lastAffected?: string;
  /** The release is known never to have been affected (the tracker's fixed version `0`). */
  notAffected?: boolean;
  /** This release's own urgency, when it differs from the advisory's severity. */
  severity?: Severity;
}

/** What an importer read from one file. */
export interface ParsedAdvisories {
  advisories: Advisory[];
  /** OSV records, or tracker (package, issue) entries, that held nothing Bulwark can match. */
  skipped: number;
}

/** Debian release numbers (OSV ecosystems `Debian:<n>`) and their codenames. */
export const DEBIAN_CODENAMES: Readonly<Record<string, string>> = {
  '7': 'wheezy',
  '8': 'jessie',
  '9': 'stretch',
  '10': 'buster',
  '11': 'bullseye',
  '12': 'bookworm',
  '13': 'trixie',
  '14': 'forky',
  '15': 'duke',
};

/** The codename of a Debian release number, or undefined for a number Bulwark does not know. */
export function debianCodename(releaseNumber: string): string | undefined {
  return Object.hasOwn(DEBIAN_CODENAMES, releaseNumber) ? DEBIAN_CODENAMES[releaseNumber] : undefined;
}

/**
 * The package names an advisory should be found under: every package one of
 * its ranges names, once, sorted. The matcher looks installed packages up by
 * their source and binary names, so storing an advisory under these keys is
 * enough for it to be found.
 */
export function advisoryPackageKeys(advisory: Advisory): string[] {
  return [...new Set(advisory.affected.map((range) => range.package))].sort();
}

/** An in-memory lookup by package name over a set of advisories, for the matcher (the server's store does the same in SQL). */
export function indexAdvisories(advisories: Iterable<Advisory>): (packageName: string) => readonly Advisory[] {
  const byPackage = new Map<string, Advisory[]>();
  for (const advisory of advisories) {
    for (const key of advisoryPackageKeys(advisory)) {
      const list = byPackage.get(key);
      if (list) list.push(advisory);
      else byPackage.set(key, [advisory]);
    }
  }
  return (packageName) => byPackage.get(packageName) ?? [];
}
