/** One line of a colon-separated account database, with where it came from for evidence. */
export interface AccountLine {
  file: string;
  line: number;
  fields: string[];
}

/**
 * Splits `/etc/passwd`, `/etc/shadow`, `/etc/group` or `/etc/gshadow` into
 * records. Blank lines are skipped; every other line is kept, however many
 * fields it has, so a legacy `+` NIS entry can still be reported.
 */
export function parseAccountFile(file: string, text: string): AccountLine[] {
  const out: AccountLine[] = [];
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '') continue;
    out.push({ file, line: i + 1, fields: line.split(':') });
  }
  return out;
}

/** `file:line` for evidence. */
export function where(entry: AccountLine): string {
  return `${entry.file}:${entry.line}`;
}
