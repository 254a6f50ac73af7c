// The package vulnerability engine: Debian version ordering, the advisory
// model, OSV and Debian security tracker importers, and the matcher.
export { compareDebianVersions, compareParsedDebianVersions, debianVersionProblem, parseDebianVersion } from './debian-version.js';
export type { DebianVersion } from './debian-version.js';
export { DEBIAN_CODENAMES, advisoryPackageKeys, debianCodename, indexAdvisories } from './advisory.js';
export type { Advisory, AffectedRange, ParsedAdvisories } from './advisory.js';
export { parseOsvRecords, readOsvRecords } from './osv.js';
export { parseDebianTracker, readDebianTracker } from './debian-tracker.js';
export { MAX_ADVISORY_FILE_CHARS, parseAdvisoryFile } from './import.js';
export type { AdvisoryFile, AdvisoryFormat } from './import.js';
export { matchVulnerabilities } from './match.js';
export type { MatchInput } from './match.js';
export { cvss3BaseScore, severityFromScore, severityFromUrgency } from './severity.js';
