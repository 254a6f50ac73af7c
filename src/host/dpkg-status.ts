/** One installed package as `/var/lib/dpkg/status` records it. */
export interface DpkgPackage {
  name: string;
  /** The binary package's version, e.g. `1:2.38.1-5+deb12u3`. */
  version: string;
  architecture?: string;
  /** The source package; the binary's own name when the stanza has no `Source:` field. */
  source: string;
  /** The source version: from `Source: name (version)` when given, else the binary version (binNMUs differ). */
  sourceVersion: string;
}

/**
 * Splits a deb822 file into stanzas of lower-cased field names to values.
 * Stanzas are separated by blank lines; continuation lines (starting with a space
 * or tab) belong to the field before them and are kept, joined by newlines.
 */
export function parseDeb822(text: string): Map<string, string>[] {
  const stanzas: Map<string, string>[] = [];
  let current = new Map<string, string>();
  let lastField: string | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '') {
      if (current.size > 0) stanzas.push(current);
      current = new Map();
      lastField = undefined;
      continue;
    }
    if (line.startsWith(' ') || line.startsWith('\t')) {
      if (lastField !== undefined) current.set(lastField, `${current.get(lastField) ?? ''}\n${line.slice(1)}`);
      continue;
    }
    const colon = line.indexOf(':');
    if (colon === -1) continue;
    // Field names are case-insensitive in deb822; the first occurrence wins.
    lastField = line.slice(0, colon).trim().toLowerCase();
    if (!current.has(lastField)) current.set(lastField, line.slice(colon + 1).trim());
    else lastField = undefined;
  }
  if (current.size > 0) stanzas.push(current);
  return stanzas;
}

/**
 * Whether a `Status:` value means the files are on disk. The third word (the
 * package state) decides, whatever the selection: `hold ok installed` and
 * `deinstall ok installed` packages are still installed, as `dpkg -l` shows them
 * with an `i` in the second column; `config-files`, `half-installed` and the like
 * are not.
 */
export function isInstalledStatus(status: string | undefined): boolean {
  const words = (status ?? '').trim().split(/\s+/);
  return words.length === 3 && words[2] === 'installed';
}

const SOURCE_FIELD = /^(\S+)(?:\s+\(([^)\s]+)\))?$/;

/** The installed packages of a dpkg status file, in file order. Stanzas without a name or version are skipped. */
export function parseDpkgStatus(text: string): DpkgPackage[] {
  const packages: DpkgPackage[] = [];
  for (const stanza of parseDeb822(text)) {
    if (!isInstalledStatus(stanza.get('status'))) continue;
    const name = stanza.get('package');
    const version = stanza.get('version');
    if (!name || !version) continue;
    const source = SOURCE_FIELD.exec(stanza.get('source') ?? '');
    const pkg: DpkgPackage = {
      name,
      version,
      source: source?.[1] ?? name,
      sourceVersion: source?.[2] ?? version,
    };
    const arch = stanza.get('architecture');
    if (arch) pkg.architecture = arch;
    packages.push(pkg);
  }
  return packages;
}
