import type { Advisory } from './advisory.js';
import { readDebianTracker } from './debian-tracker.js';
import { invalidAdvisories, isObject } from './json-input.js';
import type { JsonInput } from './json-input.js';
import { readOsvRecords } from './osv.js';

export type AdvisoryFormat = 'osv' | 'debian-tracker';

export interface AdvisoryFile {
  advisories: Advisory[];
  format: AdvisoryFormat;
  /** Records or entries that held nothing Bulwark can match (other ecosystems, withdrawn, empty). */
  skipped: number;
}

/**
 * Largest advisory file read at once. The whole Debian tracker JSON is well
 * under this; much more would be something else, or a way to exhaust memory.
 */
export const MAX_ADVISORY_FILE_CHARS = 256 * 1024 * 1024;

const WHAT = 'give an OSV record, an array of them, {"vulns": [...]}, or the Debian security tracker JSON';

/** Reads one advisory file of either format, telling which it was. */
export function parseAdvisoryFile(text: string, file: string): AdvisoryFile {
  const input: JsonInput = { file, remedy: WHAT };
  if (text.length > MAX_ADVISORY_FILE_CHARS) {
    const tooLarge: JsonInput = { file, remedy: 'split it into several files' };
    throw invalidAdvisories(tooLarge, '', `${text.length} characters is more than the ${MAX_ADVISORY_FILE_CHARS} one advisory file may hold`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw invalidAdvisories(input, '', `not valid JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  const format = detectFormat(json);
  if (format === undefined) throw invalidAdvisories(input, '', 'this is neither OSV nor Debian security tracker JSON');
  const parsed = format === 'osv' ? readOsvRecords(json, file) : readDebianTracker(json, file);
  return { ...parsed, format };
}

/**
 * OSV is a record (an object with `id`), an array of records, or `{vulns}`; the
 * tracker is a map of package names to maps of issue ids to objects with
 * `releases`. The first issue found decides, so the tracker's shape errors are
 * reported by its own reader, naming the package and issue.
 */
function detectFormat(json: unknown): AdvisoryFormat | undefined {
  if (Array.isArray(json)) return 'osv';
  if (!isObject(json)) return undefined;
  if ('id' in json || 'vulns' in json) return 'osv';
  for (const issues of Object.values(json)) {
    if (!isObject(issues)) return undefined;
    for (const issue of Object.values(issues)) return isObject(issue) && 'releases' in issue ? 'debian-tracker' : undefined;
  }
  return undefined;
}
