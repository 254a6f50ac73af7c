import { z } from 'zod';
import { toRegExp } from '../regex/compiled-regex.js';
import { translatePcre2 } from '../regex/pcre2.js';

/** A value a policy compares with: YAML may give a number or a boolean where text was meant. */
export const ScalarSchema = z.union([z.string(), z.number(), z.boolean()]);

/** A regex option of a typed rule: PCRE2 syntax, refused at parse time when it does not compile. */
export const RegexOptionSchema = z.string().superRefine((text, ctx) => {
  try {
    translatePcre2(text);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `not a valid regular expression: ${(err as Error).message}` });
  }
});

export interface ValueExpectation {
  equals?: string | number | boolean;
  not_equals?: string | number | boolean;
  in?: (string | number | boolean)[];
  not_in?: (string | number | boolean)[];
  matches?: string;
  min?: number;
  max?: number;
}

const EXPECTATION_KEYS = ['equals', 'not_equals', 'in', 'not_in', 'matches', 'min', 'max'] as const;

export function hasExpectation(rule: ValueExpectation): boolean {
  return EXPECTATION_KEYS.some((key) => rule[key] !== undefined);
}

/** Blanks collapsed, case folded: `yes` is `Yes`, `32768\t60999` is `32768 60999`. */
function normalize(value: string | number | boolean): string {
  return String(value).trim().replace(/\s+/g, ' ').toLowerCase();
}

const NUMBER = /^[-+]?\d+(\.\d+)?$/;

/**
 * Whether a configured value meets every expectation given; `why` explains a
 * failure that the value alone does not (a value that is not a number).
 */
export function meetsExpectation(value: string, rule: ValueExpectation): { ok: boolean; why?: string } {
  const v = normalize(value);
  if (rule.equals !== undefined && v !== normalize(rule.equals)) return { ok: false };
  if (rule.not_equals !== undefined && v === normalize(rule.not_equals)) return { ok: false };
  if (rule.in !== undefined && !rule.in.some((item) => normalize(item) === v)) return { ok: false };
  if (rule.not_in !== undefined && rule.not_in.some((item) => normalize(item) === v)) return { ok: false };
  if (rule.matches !== undefined && !toRegExp(translatePcre2(rule.matches)).test(value.trim())) return { ok: false };
  if (rule.min !== undefined || rule.max !== undefined) {
    if (!NUMBER.test(value.trim())) return { ok: false, why: 'not a number' };
    const n = Number(value.trim());
    if (rule.min !== undefined && n < rule.min) return { ok: false };
    if (rule.max !== undefined && n > rule.max) return { ok: false };
  }
  return { ok: true };
}
