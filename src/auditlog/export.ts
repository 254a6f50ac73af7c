import { isIP } from 'node:net';
import { VERSION } from '../core/version.js';
import type { AuditEntry } from './entry.js';
import { hashedFields } from './chain.js';

export type ExportFormat = 'jsonl' | 'cef';
export const EXPORT_FORMATS: readonly ExportFormat[] = ['jsonl', 'cef'];

/**
 * One JSON object on one line, fields in a fixed order, hashes included so a
 * copy held elsewhere can be verified later. No trailing newline.
 */
export function toJsonLine(e: AuditEntry): string {
  // The hashed fields exactly as the chain hashes them, so the line verifies alone.
  return JSON.stringify({
    ...hashedFields(e),
    prevHash: e.prevHash,
    hash: e.hash,
  });
}

/** CEF header fields: `\` and `|` are escaped; a header cannot span lines, so line breaks become spaces. */
export function cefHeader(value: string): string {
  return value.replace(/[\\|]/g, (c) => `\\${c}`).replace(/\r\n|[\r\n]/g, ' ');
}

/** CEF extension values: `\` and `=` are escaped, line breaks written as `\n` and `\r`. */
export function cefValue(value: string): string {
  return value.replace(/[\\=]/g, (c) => `\\${c}`).replace(/\r\n|[\r\n]/g, (c) => (c === '\r' ? '\\r' : '\\n'));
}

/** 0–10 as CEF counts it: denials stand out, errors above failures above routine successes. */
export function cefSeverity(e: AuditEntry): number {
  if (e.decision === 'deny') return 8;
  if (e.outcome === 'error') return 6;
  if (e.outcome === 'failure') return 5;
  return 3;
}

/**
 * One ArcSight CEF line:
 * `CEF:0|Bulwark|Bulwark|<version>|<action>|<name>|<severity>|<extension>`.
 * The extension uses the standard keys where one fits (`rt`, `suser`, `src`, `act`,
 * `outcome`, `externalId`) and labelled custom strings for the rest.
 *
 * @example
 * toCef(entry) // CEF:0|Bulwark|Bulwark|0.1.0|nodes.delete|nodes.delete allow|3|rt=… suser=user:alice …
 */
export function toCef(e: AuditEntry, version: string = VERSION): string {
  const header = ['CEF:0', 'Bulwark', 'Bulwark', version, e.action, `${e.action} ${e.decision}`, String(cefSeverity(e))].map((v, i) =>
    i === 0 ? v : cefHeader(v),
  );
  const ext: [string, string][] = [
    ['rt', String(e.time)],
    ['externalId', String(e.seq)],
    ['suser', e.actor],
    ['act', e.action],
    ['outcome', e.outcome],
    ...(isIP(e.source) ? ([['src', e.source]] as [string, string][]) : []),
    ['cs1Label', 'resource'],
    ['cs1', e.resource],
    ['cs2Label', 'decision'],
    ['cs2', e.decision],
    ['cs3Label', 'requestId'],
    ['cs3', e.requestId],
    ['cs4Label', 'details'],
    ['cs4', JSON.stringify(e.details)],
    ['cs5Label', 'source'],
    ['cs5', e.source],
    ['cs6Label', 'hash'],
    ['cs6', e.hash],
  ];
  return `${header.join('|')}|${ext.map(([k, v]) => `${k}=${cefValue(v)}`).join(' ')}`;
}

/** The line for `format`, without a newline. */
export function formatEntry(e: AuditEntry, format: ExportFormat, version: string = VERSION): string {
  return format === 'cef' ? toCef(e, version) : toJsonLine(e);
}
