import { BulwarkError } from '../../core/errors.js';

/**
 * Debian package versions, ordered exactly as dpkg orders them
 * (deb-version(7); `lib/dpkg/version.c` and `parsehelp.c`):
 * `[epoch:]upstream[-revision]`, epoch numeric (default 0), upstream and
 * revision split at the LAST hyphen, then each part compared by alternating
 * non-digit runs (character by character, `~` before everything including the
 * end of the string, letters before all other characters) and digit runs
 * (numerically).
 */
export interface DebianVersion {
  epoch: number;
  upstream: string;
  /** Empty when the version has no hyphen; dpkg compares that like `0`. */
  revision: string;
}

// dpkg keeps the epoch in an int and refuses anything larger.
const MAX_EPOCH = 2147483647;

/**
 * Why dpkg would refuse `version`, in dpkg's own words, or undefined when it is
 * valid. dpkg merely warns about the last three problems when it compares, but
 * refuses to install such a version, so a version from an advisory or a status
 * file that has one of them is bad data.
 */
export function debianVersionProblem(version: string): string | undefined {
  return split(version).problem;
}

/** Parses a version as dpkg does; throws `BAD_REQUEST` naming the version and what is wrong with it. */
export function parseDebianVersion(version: string): DebianVersion {
  const { parsed, problem } = split(version);
  if (problem !== undefined || parsed === undefined) {
    throw new BulwarkError('BAD_REQUEST', `invalid Debian version ${JSON.stringify(version)}: ${problem ?? 'unreadable'}`, { version });
  }
  return parsed;
}

/** Negative, zero or positive as `a` sorts before, equal to or after `b` (`dpkg --compare-versions`). Throws on invalid versions. */
export function compareDebianVersions(a: string, b: string): number {
  return compareParsedDebianVersions(parseDebianVersion(a), parseDebianVersion(b));
}

/** The comparison on already parsed versions, for callers that compare one version many times. */
export function compareParsedDebianVersions(a: DebianVersion, b: DebianVersion): number {
  if (a.epoch !== b.epoch) return a.epoch < b.epoch ? -1 : 1;
  return comparePart(a.upstream, b.upstream) || comparePart(a.revision, b.revision);
}

function split(raw: string): { parsed?: DebianVersion; problem?: string } {
  // dpkg ignores surrounding white space but not white space inside.
  const version = raw.trim();
  if (version === '') return { problem: 'version string is empty' };
  if (/\s/.test(version)) return { problem: 'version string has embedded spaces' };

  let epoch = 0;
  let rest = version;
  const colon = version.indexOf(':');
  if (colon !== -1) {
    const epochText = version.slice(0, colon);
    // dpkg reads the epoch with strtol: an optional sign, then digits; no digits
    // at all is "empty", digits followed by anything else "not number".
    if (!/^[+-]?[0-9]/.test(epochText)) return { problem: 'epoch in version is empty' };
    if (!/^[+-]?[0-9]+$/.test(epochText)) return { problem: 'epoch in version is not number' };
    epoch = Number(epochText);
    if (epoch < 0) return { problem: 'epoch in version is negative' };
    if (epoch > MAX_EPOCH) return { problem: 'epoch in version is too big' };
    // strtol reads "-0" as 0; keep the comparison free of negative zero.
    epoch = Math.abs(epoch);
    rest = version.slice(colon + 1);
    if (rest === '') return { problem: 'nothing after colon in version number' };
  }

  let upstream = rest;
  let revision = '';
  const hyphen = rest.lastIndexOf('-');
  if (hyphen !== -1) {
    upstream = rest.slice(0, hyphen);
    revision = rest.slice(hyphen + 1);
    if (revision === '') return { problem: 'revision number is empty' };
  }
  if (upstream === '') return { problem: 'version number is empty' };
  if (!isDigit(upstream.charCodeAt(0))) return { problem: 'version number does not start with digit' };
  if (!/^[0-9A-Za-z.+~:-]*$/.test(upstream)) return { problem: 'invalid character in version number' };
  if (!/^[0-9A-Za-z.+~]*$/.test(revision)) return { problem: 'invalid character in revision number' };
  return { parsed: { epoch, upstream, revision } };
}

const TILDE = 0x7e;

function isDigit(code: number): boolean {
  return code >= 0x30 && code <= 0x39;
}

function isLetter(code: number): boolean {
  return (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a);
}

/**
 * Sort weight of one character of a non-digit run. The end of the string (NaN
 * from charCodeAt) and digits weigh 0, so `~` (-1) sorts before the end and
 * every other character after it; letters sort before all non-letters.
 */
function weight(code: number): number {
  if (Number.isNaN(code) || isDigit(code)) return 0;
  if (isLetter(code)) return code;
  if (code === TILDE) return -1;
  return code + 256;
}

function comparePart(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    // Non-digit run: character by character.
    while ((i < a.length && !isDigit(a.charCodeAt(i))) || (j < b.length && !isDigit(b.charCodeAt(j)))) {
      const diff = weight(a.charCodeAt(i)) - weight(b.charCodeAt(j));
      if (diff !== 0) return diff;
      i++;
      j++;
    }
    // Digit run: numerically, without converting (runs may exceed 2^53).
    while (a.charCodeAt(i) === 0x30) i++;
    while (b.charCodeAt(j) === 0x30) j++;
    let firstDiff = 0;
    while (isDigit(a.charCodeAt(i)) && isDigit(b.charCodeAt(j))) {
      if (firstDiff === 0) firstDiff = a.charCodeAt(i) - b.charCodeAt(j);
      i++;
      j++;
    }
    if (isDigit(a.charCodeAt(i))) return 1;
    if (isDigit(b.charCodeAt(j))) return -1;
    if (firstDiff !== 0) return firstDiff;
  }
  return 0;
}
