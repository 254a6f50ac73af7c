/** The two regular expression dialects of Wazuh SCA policies. */
export const REGEX_DIALECTS = ['osregex', 'pcre2'] as const;
export type RegexDialect = (typeof REGEX_DIALECTS)[number];

/**
 * A policy regex already translated to JavaScript: plain data, so a parsed
 * policy stays serialisable, and compiled once per process by `toRegExp`.
 */
export interface CompiledRegex {
  /** What the policy wrote. */
  text: string;
  source: string;
  flags: string;
}

/** A regex the policy author wrote that cannot be used; `message` says why. */
export class RegexSyntaxError extends Error {
  override readonly name = 'RegexSyntaxError';
}

// Policies are few and their regexes fixed, but a server parses custom policies
// all day: the cache is emptied rather than allowed to grow without bound.
const MAX_CACHED = 10_000;
const cache = new Map<string, RegExp>();

export function toRegExp(regex: Pick<CompiledRegex, 'source' | 'flags'>): RegExp {
  const key = `${regex.flags}/${regex.source}`;
  let compiled = cache.get(key);
  if (compiled === undefined) {
    if (cache.size >= MAX_CACHED) cache.clear();
    compiled = new RegExp(regex.source, regex.flags);
    cache.set(key, compiled);
  }
  return compiled;
}

/** Checks that a translated source compiles, turning JavaScript's complaint into a RegexSyntaxError. */
export function checkCompiles(text: string, source: string, flags: string): CompiledRegex {
  try {
    toRegExp({ source, flags });
  } catch (err) {
    const reason = (err as Error).message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, '');
    throw new RegexSyntaxError(reason);
  }
  return { text, source, flags };
}

/** How many capture groups a regex has (numeric comparisons need one). */
export function captureGroupCount(regex: Pick<CompiledRegex, 'source' | 'flags'>): number {
  const probe = new RegExp(`${regex.source}|`, regex.flags).exec('');
  return probe === null ? 0 : probe.length - 1;
}

/** The first capture group that took part in a match: with alternatives, each has its own groups. */
export function firstCapture(match: RegExpExecArray): string | undefined {
  return match.slice(1).find((group) => group !== undefined);
}

/** Escapes text so a RegExp matches it literally. */
export function escapeRegExp(text: string): string {
  return text.replace(/[\\^$.|?*+()[\]{}/]/g, '\\$&');
}
