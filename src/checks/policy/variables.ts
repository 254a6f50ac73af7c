/**
 * Replaces `$name` variables in a rule's path or command. Longest names go
 * first, so `$sshd_file` is not read as `$sshd` followed by `_file`.
 */
export function substituteVariables(text: string, variables: ReadonlyMap<string, string>): string {
  let out = text;
  for (const name of [...variables.keys()].sort((a, b) => b.length - a.length)) out = out.split(name).join(variables.get(name));
  return out;
}
