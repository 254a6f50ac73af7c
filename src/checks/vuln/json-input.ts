import { BulwarkError } from '../../core/errors.js';
import { debianVersionProblem } from './debian-version.js';

/**
 * Reading advisory JSON that nobody has checked yet: every accessor names the
 * file, the record and the field it was reading when it fails, and what to do,
 * in one line (`INVALID_ADVISORIES`).
 */
export interface JsonInput {
  file: string;
  /** What the user should do about a bad record, ending the error line. */
  remedy: string;
}

export type JsonObject = Record<string, unknown>;

export function invalidAdvisories(input: JsonInput, where: string, problem: string): BulwarkError {
  const at = where === '' ? '' : `${where}: `;
  return new BulwarkError('INVALID_ADVISORIES', `${input.file}: ${at}${problem}; ${input.remedy}`, { file: input.file, where });
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${JSON.stringify(value)?.slice(0, 40) ?? ''}`.trim();
}

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function objectAt(input: JsonInput, value: unknown, where: string): JsonObject {
  if (!isObject(value)) throw invalidAdvisories(input, where, `expected an object, got ${describe(value)}`);
  return value;
}

export function arrayAt(input: JsonInput, value: unknown, where: string): unknown[] {
  if (!Array.isArray(value)) throw invalidAdvisories(input, where, `expected an array, got ${describe(value)}`);
  return value;
}

export function stringAt(input: JsonInput, value: unknown, where: string): string {
  if (typeof value !== 'string') throw invalidAdvisories(input, where, `expected a string, got ${describe(value)}`);
  return value;
}

export function optionalStringAt(input: JsonInput, value: unknown, where: string): string | undefined {
  return value === undefined ? undefined : stringAt(input, value, where);
}

/** An optional list of strings; absent reads as empty. */
export function stringListAt(input: JsonInput, value: unknown, where: string): string[] {
  if (value === undefined) return [];
  return arrayAt(input, value, where).map((item, i) => stringAt(input, item, `${where}[${i}]`));
}

/** Advisory and alias ids end up in finding keys (`vulnerability:<id>/<package>`), so no slashes or spaces. */
const ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

export function idAt(input: JsonInput, value: unknown, where: string): string {
  const id = stringAt(input, value, where);
  if (!ID.test(id)) throw invalidAdvisories(input, where, `${JSON.stringify(id.slice(0, 80))} is not an advisory id (letters, digits, . _ : - and at most 128 characters)`);
  return id;
}

/** Debian package names (Policy 5.6.1), lower case, as source and binary names both follow. */
const PACKAGE = /^[a-z0-9][a-z0-9+.-]{0,199}$/;

export function packageNameAt(input: JsonInput, value: unknown, where: string): string {
  const name = stringAt(input, value, where);
  if (!PACKAGE.test(name)) throw invalidAdvisories(input, where, `${JSON.stringify(name.slice(0, 80))} is not a Debian package name`);
  return name;
}

export function debianVersionAt(input: JsonInput, value: unknown, where: string): string {
  const version = stringAt(input, value, where);
  const problem = debianVersionProblem(version);
  if (problem !== undefined) throw invalidAdvisories(input, where, `${JSON.stringify(version.slice(0, 80))} is not a Debian version (${problem})`);
  return version.trim();
}

/** Longest summary kept: a title and a paragraph, not a whole write-up. */
const MAX_SUMMARY_CHARS = 2000;

export function clampSummary(text: string): string {
  const trimmed = text.trim();
  return trimmed.length <= MAX_SUMMARY_CHARS ? trimmed : `${trimmed.slice(0, MAX_SUMMARY_CHARS - 1)}…`;
}
