// ESC sequences: CSI (ESC [ … final byte), OSC/DCS/SOS/PM/APC (ESC ] P X ^ _ … up to BEL or ESC \), any other ESC + one byte;
// then the 8-bit CSI (0x9b), and last every lone control character.
const ESCAPE_SEQUENCES = /\x1b\[[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]?|\x1b[\]PX^_][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[\s\S]?|\x9b[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]?/g;
// C0 except tab, DEL, C1, and the Unicode bidirectional controls that reorder what a terminal shows.
const CONTROL_CHARACTERS = /[\x00-\x08\x0a-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * Makes a string safe to print: node-reported values (host names, facts) are
 * untrusted, and an escape sequence in one could rewrite the operator's terminal
 * (move the cursor, hide lines, set the window title). Drops ESC sequences, C0
 * controls except tab, DEL, C1 controls and bidirectional overrides.
 */
export function clean(value: string): string {
  return value.replace(ESCAPE_SEQUENCES, '').replace(CONTROL_CHARACTERS, '');
}

/** Prints rows as aligned columns; the header is the keys of `columns`. Every cell goes through {@link clean}. */
export function printTable(columns: Record<string, string>, dirty: Record<string, string>[]): void {
  const keys = Object.keys(columns);
  const rows = dirty.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, clean(v)])));
  const widths = keys.map((k) => Math.max((columns[k] ?? '').length, ...rows.map((r) => (r[k] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  process.stdout.write(`${line(keys.map((k) => columns[k] ?? k))}\n`);
  for (const row of rows) process.stdout.write(`${line(keys.map((k) => row[k] ?? ''))}\n`);
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** "12s ago", "3m ago", "2h ago", "4d ago" — how operators read last-seen times. */
export function ago(time: number | null, now = Date.now()): string {
  if (time === null) return 'never';
  const s = Math.max(0, Math.round((now - time) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

export function isoTime(time: number | null): string {
  return time === null ? '-' : new Date(time).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function formatLabels(labels: Record<string, string>): string {
  const text = Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  return text === '' ? '-' : text;
}

/** A one-line progress bar on a TTY; nothing when output is piped. */
export class Progress {
  readonly #enabled = process.stderr.isTTY === true;
  constructor(
    private readonly label: string,
    private readonly total: number,
  ) {}

  update(done: number): void {
    if (!this.#enabled) return;
    const width = 30;
    const filled = Math.round((done / Math.max(1, this.total)) * width);
    process.stderr.write(`\r${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${this.total}`);
  }

  done(): void {
    if (this.#enabled) process.stderr.write('\n');
  }
}
