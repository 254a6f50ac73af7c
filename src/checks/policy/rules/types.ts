import type { Stats } from 'node:fs';
import type { z } from 'zod';
import type { AuditHost } from '../../host.js';
import type { AccessRefusedError } from '../path-guard.js';

/** What a rule sees of the machine. Every path is host-absolute and resolved under `host.root`. */
export interface RuleContext {
  host: AuditHost;
  /** Milliseconds since the epoch, from the injected clock. */
  now: number;
  /** A text file under the root, or undefined when it does not exist (reads are capped and cached per run). */
  readFile(path: string): Promise<string | undefined>;
  /** stat() that follows symlinks inside the root, or undefined when the path does not exist. */
  stat(path: string): Promise<Stats | undefined>;
  /** lstat(), or undefined when the path does not exist. */
  lstat(path: string): Promise<Stats | undefined>;
  /** Entry names of a directory, sorted, or undefined when it does not exist. */
  listDir(path: string): Promise<string[] | undefined>;
  /** The absolute path on this machine of a host path under the root (for walkers that need fs directly). */
  resolve(path: string): Promise<string>;
  /** The host path with symlinks and `..` resolved inside the root (what `resolve` points at, without the root). */
  canonical(path: string): Promise<string>;
  /**
   * Whether a host path is denied to audits (`host.deniedPaths`, after symlinks
   * and `..`). Asking refuses nothing: walkers and glob expansion use it to
   * leave denied entries out, as if they were not there.
   */
  isDenied(path: string): Promise<boolean>;
  /** The denied paths, host-absolute, as configured and as resolved: for walkers that check entries without asking each time. */
  deniedPaths(): Promise<readonly string[]>;
  /**
   * The accesses refused so far in this evaluation (a denied path, a file that
   * is not a regular file), in order. The access rejects with the error too;
   * the evaluator makes any rule that met one not applicable, with its message
   * as evidence, whatever the rule did with the error.
   */
  readonly refusals: AccessRefusedError[];
  /** Host paths read in this evaluation whose content holds a PEM private key: evidence withholds their lines. */
  readonly secretFiles: ReadonlySet<string>;
}

/** A rule's verdict and the evidence that decided it (a line with its file and number, a value, a path list). */
export interface RuleOutcome {
  result: boolean | 'not_applicable';
  evidence: string;
}

/**
 * One typed rule of the native policy format. A rule object is recognised by its
 * `key` property (`{ sysctl: …, equals: … }` is the `sysctl` rule); `schema`
 * validates the whole object, so a misspelt option is an error, not a rule that
 * silently never matches. Every rule object may also carry `not: true`, handled by
 * the evaluator, not by the rule.
 */
export interface RuleType<T = unknown> {
  key: string;
  schema: z.ZodType<T>;
  evaluate(rule: T, ctx: RuleContext): Promise<RuleOutcome>;
}

/** Helps a rule module declare itself with its schema's type inferred. */
export function defineRule<T>(rule: RuleType<T>): RuleType<T> {
  return rule;
}

/** Any rule type, whatever its options: what the registry holds. */
export interface AnyRuleType {
  key: string;
  schema: z.ZodType<unknown>;
  evaluate(rule: never, ctx: RuleContext): Promise<RuleOutcome>;
}
