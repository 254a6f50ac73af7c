/**
 * A rule string that cannot be parsed. Carries the problem and what to do about
 * it; the policy parser adds the file, line and column.
 */
export class RuleSyntaxError extends Error {
  override readonly name = 'RuleSyntaxError';

  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
  }
}
