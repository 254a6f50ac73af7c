import type { Severity } from '../model.js';
import type { CompiledRegex } from './regex/compiled-regex.js';

/**
 * A parsed audit policy. Plain data only (no classes, functions or RegExp
 * objects), so it can be stored, sent and compared as JSON; regexes are kept as
 * their translated source and compiled when evaluated.
 */
export interface Policy {
  /** `wazuh-sca` for a Wazuh SCA file as Wazuh ships it, `bulwark/v1` for the native format. */
  format: PolicyFormat;
  id: string;
  name: string;
  description?: string;
  /** The file name the policy declares (SCA `policy.file`). */
  file?: string;
  references?: string[];
  /** When not met, every check is not applicable. */
  requirements?: PolicyRequirements;
  checks: PolicyCheck[];
}

export const POLICY_FORMATS = ['wazuh-sca', 'bulwark/v1'] as const;
export type PolicyFormat = (typeof POLICY_FORMATS)[number];

export const CONDITIONS = ['all', 'any', 'none'] as const;
/** `all`: every rule true; `any`: at least one; `none`: no rule true. */
export type Condition = (typeof CONDITIONS)[number];

export interface RuleGroup {
  condition: Condition;
  rules: PolicyRule[];
}

export interface PolicyRequirements extends RuleGroup {
  title: string;
  description?: string;
}

export interface PolicyCheck extends RuleGroup {
  /** The native id, or the SCA numeric id as a string. */
  id: string;
  title: string;
  description?: string;
  /** SCA checks have none: `medium`. */
  severity: Severity;
  rationale?: string;
  remediation?: string;
  references?: string[];
  compliance?: Record<string, string[]>;
  /** Native only: when not met, the check is not applicable. */
  appliesWhen?: RuleGroup;
}

export type PolicyRule = ScaRule | TypedRule;

/** A native rule object, validated by its rule type's schema (`{ sysctl: …, equals: … }`). */
export interface TypedRule {
  kind: 'typed';
  /** The rule type's key property: `file`, `config`, `sysctl`, … */
  type: string;
  /** `not: true`: the rule's result is inverted (not applicable stays so). */
  negated: boolean;
  /** The rule object as its schema validated it, without `not`. */
  options: Record<string, unknown>;
}

/** A rule of the SCA rule language: `f:`, `d:`, `p:` or `c:`, maybe `not`, maybe `->` chained. */
export type ScaRule = ScaFileRule | ScaDirectoryRule | ScaProcessRule | ScaCommandRule;

interface ScaRuleBase {
  kind: 'sca';
  /** The rule as written. */
  text: string;
  /** The `not` prefix: the result is inverted (not applicable stays so). */
  negated: boolean;
  /** What follows the type prefix up to the first ` -> `, as written (variables not substituted). */
  location: string;
}

export interface ScaFileRule extends ScaRuleBase {
  type: 'file';
  /** Comma-separated files of the location, variables substituted; `*` `?` `[…]` globs allowed. */
  paths: string[];
  /** Without it the rule asks whether one of the files exists. */
  content?: ContentPattern;
}

export interface ScaDirectoryRule extends ScaRuleBase {
  type: 'directory';
  paths: string[];
  /** `d:DIR -> NAME`: a file whose name matches, searched recursively. */
  fileName?: ContentPattern;
  /** `d:DIR -> NAME -> CONTENT`: a matching file whose content matches. */
  content?: ContentPattern;
}

export interface ScaProcessRule extends ScaRuleBase {
  type: 'process';
  /** Matched against each process's name and command line. */
  process: ContentPattern;
}

export interface ScaCommandRule extends ScaRuleBase {
  type: 'command';
  /** Variables substituted; split into argv without a shell when run. */
  command: string;
  /** Without it the rule asks whether the command runs. */
  content?: ContentPattern;
}

/** `r:… && !r:… && n:… compare <= 5`: every minterm must hold on the same line. */
export interface ContentPattern {
  text: string;
  minterms: Minterm[];
}

export type Minterm = RegexMinterm | NumericMinterm | LiteralMinterm;

interface MintermBase {
  /** `!`: the minterm holds when its test does not. */
  negated: boolean;
  text: string;
}

export interface RegexMinterm extends MintermBase {
  kind: 'regex';
  regex: CompiledRegex;
}

export const COMPARE_OPERATORS = ['<', '<=', '==', '!=', '>=', '>'] as const;
export type CompareOperator = (typeof COMPARE_OPERATORS)[number];

/** `n:REGEX compare OP VALUE`: the regex's first capture, as an integer, compared with VALUE. */
export interface NumericMinterm extends MintermBase {
  kind: 'numeric';
  regex: CompiledRegex;
  operator: CompareOperator;
  value: number;
}

/** No prefix: the whole line (or name) equals the text. */
export interface LiteralMinterm extends MintermBase {
  kind: 'literal';
  /** The text after any `!`. */
  value: string;
  ignoreCase: boolean;
}
