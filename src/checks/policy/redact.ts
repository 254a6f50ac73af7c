/**
 * Evidence is shown to whoever reads audit results (reports, SARIF uploads,
 * the API), not only to people with root on the node, so secrets that a
 * rule's match happens to echo are taken out before a finding is made:
 *
 * 1. the content of lines from secret files is withheld, their location kept:
 *    `/etc/shadow:1: (content withheld: secret file)`;
 * 2. crypt(3) password hashes become `$6$[redacted]`;
 * 3. long base64, base64url or hex runs (key bodies, tokens) become
 *    `[redacted 64 chars]`.
 *
 * This keeps findings from carrying secrets; it does not stop a policy from
 * probing a file with regexes and reading the answer from pass and fail (see
 * docs/threat-model.md).
 */

export interface RedactOptions {
  /**
   * Further host paths whose lines are withheld: the files an evaluation read
   * that hold a PEM private key, wherever they are.
   */
  secretFiles?: Iterable<string>;
}

export const WITHHELD = '(content withheld: secret file)';

/** Files whose every line is a secret: password hashes, host keys, TLS keys. */
const WELL_KNOWN_SECRET_FILE = /^(?:\/etc\/g?shadow-?|\/etc\/ssh\/ssh_host_[^/]*_key|\/etc\/ssl\/private\/.+)$/;

/** A line that opens a PEM private key: its file holds a key, so its lines are withheld. */
const PRIVATE_KEY_LINE = /^-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----/;

/** `/etc/shadow:1: <content>`: a file line as rules report it (the path after a blank, a bracket, a quote or at the start). */
const LOCATED_LINE = /(?:^|[\s(,'"`])(\/[^\s:]*):\d+: /;

/** `no line of /etc/shadow matches r:x (line 1: <content>)`: a failed match with the closest line. */
const NEAR_MISS = /(?:^|[\s(,'"`])no line of (\/\S*) matches /;
const NEAR_MISS_LINE = / \(line \d+: /;

/**
 * crypt(3) hashes by their method id: MD5, bcrypt, SHA-256, SHA-512, scrypt,
 * yescrypt and gost-yescrypt. The salt and hash run to the next `:` or blank
 * (or a closing bracket, quote or separator, which no hash contains).
 */
const CRYPT_HASH = /\$(1|2[abxy]?|5|6|7|y|gy)\$[./0-9A-Za-z][^\s:;,)\]}'"`]*/g;

/** Base64 (`+/`), base64url (`-_`) and hex characters, with base64's `=` padding at the end. */
const TOKEN = /[A-Za-z0-9+/_-]+={0,2}/g;
export const MIN_SECRET_RUN = 32;

/**
 * Short words in one case joined by `-` or `_`: `50-cloud-init-generated-by-the-provisioner`,
 * `x86_64-linux-gnu`, a UUID. Random base64 mixes cases and rarely has a
 * separator; hex has none.
 */
function isHyphenatedWords(text: string): boolean {
  if (!/^[a-z0-9]+(?:[-_][a-z0-9]+)+$/.test(text) && !/^[A-Z0-9]+(?:[-_][A-Z0-9]+)+$/.test(text)) return false;
  return text.split(/[-_]/).every((word) => word.length < 16);
}

/** A path such as `/usr/lib/x86_64-linux-gnu/security/pam_unix` is long but no secret: its parts are short or words. */
function isPathLike(token: string, before: string): boolean {
  if (!token.includes('/') || !(token.startsWith('/') || before === '.' || before === '~')) return false;
  return token.split('/').every((part) => part.length < MIN_SECRET_RUN || isHyphenatedWords(part));
}

/** Letters in one case with `-`, `_` or `/` (`unattended-upgrades-download-and-install`), or such words with digits: no key or token looks like that. */
function isWordLike(token: string): boolean {
  return /^[a-z/_=-]+$/.test(token) || /^[A-Z/_=-]+$/.test(token) || isHyphenatedWords(token);
}

function redactRuns(text: string): string {
  return text.replace(TOKEN, (token: string, offset: number) => {
    if (token.length < MIN_SECRET_RUN || isPathLike(token, text[offset - 1] ?? '') || isWordLike(token)) return token;
    return `[redacted ${token.length} chars]`;
  });
}

/** Whether a host path is one of the well-known secret files. */
export function isWellKnownSecretFile(path: string): boolean {
  return WELL_KNOWN_SECRET_FILE.test(path);
}

interface FileLine {
  path: string;
  /** Where the content starts in the piece. */
  at: number;
  /** The text after the content, kept (the closing bracket of a near miss). */
  close: string;
}

/** The file line a piece of evidence shows, if any. */
function fileLine(piece: string): FileLine | undefined {
  const located = LOCATED_LINE.exec(piece);
  const nearMiss = NEAR_MISS.exec(piece);
  if (nearMiss !== null && (located === null || nearMiss.index < located.index)) {
    const rest = piece.slice(nearMiss.index + nearMiss[0].length);
    const line = NEAR_MISS_LINE.exec(rest);
    if (line === null) return undefined;
    return { path: nearMiss[1] as string, at: nearMiss.index + nearMiss[0].length + line.index + line[0].length, close: piece.endsWith(')') ? ')' : '' };
  }
  if (located === null) return undefined;
  return { path: located[1] as string, at: located.index + located[0].length, close: '' };
}

/**
 * Takes secrets out of a finding's evidence (see the module comment). Pure:
 * the same text and options give the same result, and redacted evidence comes
 * through unchanged.
 *
 * @example redactEvidence('/etc/shadow:1: root:$6$salt$hash:19000::::::') // '/etc/shadow:1: (content withheld: secret file)'
 * @example redactEvidence('/etc/backup:3: root:$6$salt$hash:19000') // '/etc/backup:3: root:$6$[redacted]:19000'
 * @example redactEvidence('/etc/ssh/sshd_config:14: PermitRootLogin yes') // unchanged
 */
export function redactEvidence(text: string, options: RedactOptions = {}): string {
  const secret = new Set(options.secretFiles ?? []);
  // Evidence of several rules or files is joined with "; ".
  const pieces = text.split('; ').map((piece) => ({ piece, line: fileLine(piece) }));
  // A file one of whose lines opens a private key is a key file for all its lines.
  for (const { piece, line } of pieces) {
    if (line !== undefined && PRIVATE_KEY_LINE.test(piece.slice(line.at).trimStart())) secret.add(line.path);
  }
  const withheld = pieces.map(({ piece, line }) => {
    if (line === undefined || !(secret.has(line.path) || isWellKnownSecretFile(line.path))) return piece;
    return `${piece.slice(0, line.at)}${WITHHELD}${line.close}`;
  });
  return redactRuns(withheld.join('; ').replace(CRYPT_HASH, (_hash: string, id: string) => `$${id}$[redacted]`));
}
