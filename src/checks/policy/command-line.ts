/**
 * Splits a policy's command line into argv the way Wazuh does before exec
 * (no shell): words are separated by blanks; single quotes keep everything up to
 * the next single quote; double quotes keep blanks and single quotes, with `\"`
 * and `\\` as escapes; outside quotes a backslash keeps the next character.
 * Pipes, `&`, `$VAR` and globs are plain text: a policy that wants a shell says
 * `sh -c "…"`.
 *
 * @example splitCommandLine(`sh -c "nft list ruleset | awk '/hook input/'"`)
 *   // ['sh', '-c', "nft list ruleset | awk '/hook input/'"]
 */
export function splitCommandLine(command: string): string[] {
  const argv: string[] = [];
  let word: string | undefined;
  for (let i = 0; i < command.length; i++) {
    const c = command[i] as string;
    if (c === ' ' || c === '\t' || c === '\n') {
      if (word !== undefined) argv.push(word);
      word = undefined;
    } else if (c === "'") {
      const end = command.indexOf("'", i + 1);
      if (end === -1) throw new Error(`unterminated single quote in command: ${command}`);
      word = (word ?? '') + command.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      let text = '';
      let j = i + 1;
      for (; j < command.length && command[j] !== '"'; j++) {
        const next = command[j + 1];
        if (command[j] === '\\' && (next === '"' || next === '\\')) {
          text += next;
          j++;
        } else text += command[j];
      }
      if (j >= command.length) throw new Error(`unterminated double quote in command: ${command}`);
      word = (word ?? '') + text;
      i = j;
    } else if (c === '\\' && i + 1 < command.length) {
      word = (word ?? '') + command[i + 1];
      i++;
    } else {
      word = (word ?? '') + c;
    }
  }
  if (word !== undefined) argv.push(word);
  if (argv.length === 0) throw new Error('the command is empty');
  return argv;
}
