import { spawnSync } from 'node:child_process';

/**
 * Test helpers: a small, strict XML 1.0 parser for the JUnit and HTML writers'
 * output. It throws on anything not well-formed (illegal characters, unknown
 * entities, bad nesting, duplicate or unquoted attributes, stray `]]>`, content
 * after the root) and returns the element tree with text and attributes decoded,
 * so tests can assert on structure instead of on substrings. No DTDs, no
 * namespace processing: the writers emit neither. And xmllint, when installed.
 */
export interface XmlElement {
  name: string;
  attributes: Record<string, string>;
  children: XmlNode[];
}
export type XmlNode = XmlElement | string;

const NAME = /[A-Za-z_:][-A-Za-z0-9_.:]*/y;
const ILLEGAL_CHAR = /[^\t\n\r\u{20}-\u{D7FF}\u{E000}-\u{FFFD}\u{10000}-\u{10FFFF}]/u;
const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

export function parseXml(source: string): XmlElement {
  const bad = ILLEGAL_CHAR.exec(source);
  if (bad) throw new Error(`character U+${bad[0].codePointAt(0)?.toString(16)} not allowed in XML at ${bad.index}`);
  let pos = 0;
  const fail = (message: string): never => {
    throw new Error(`${message} at offset ${pos}: ${JSON.stringify(source.slice(pos, pos + 40))}`);
  };
  const skipSpace = (): void => {
    while (pos < source.length && ' \t\r\n'.includes(source.charAt(pos))) pos++;
  };
  const readName = (): string => {
    NAME.lastIndex = pos;
    const m = NAME.exec(source);
    if (!m) return fail('expected a name');
    pos += m[0].length;
    return m[0];
  };
  const decode = (raw: string): string =>
    raw.replace(/&([^;&]*);|&/g, (whole, ref: string | undefined) => {
      if (ref === undefined) return fail('bare & in content');
      if (ref in ENTITIES) return ENTITIES[ref] ?? '';
      const m = /^#(?:x([0-9a-fA-F]+)|([0-9]+))$/.exec(ref);
      if (!m) return fail(`unknown entity ${whole}`);
      const code = m[1] !== undefined ? parseInt(m[1], 16) : Number(m[2]);
      const char = code <= 0x10ffff ? String.fromCodePoint(code) : '';
      if (char === '' || ILLEGAL_CHAR.test(char) || (code >= 0xd800 && code <= 0xdfff)) return fail(`reference to an illegal character ${whole}`);
      return char;
    });
  const skipMisc = (): void => {
    for (;;) {
      skipSpace();
      if (source.startsWith('<!--', pos)) {
        const end = source.indexOf('-->', pos + 4);
        if (end < 0) fail('unterminated comment');
        if (source.slice(pos + 4, end).includes('--')) fail('"--" inside a comment');
        pos = end + 3;
      } else if (source.startsWith('<?', pos) && !source.startsWith('<?xml', pos)) {
        const end = source.indexOf('?>', pos);
        if (end < 0) fail('unterminated processing instruction');
        pos = end + 2;
      } else return;
    }
  };

  if (source.startsWith('<?xml', pos)) {
    const end = source.indexOf('?>', pos);
    if (end < 0) fail('unterminated XML declaration');
    if (!/^<\?xml\s+version="1\.0"(\s+encoding="UTF-8")?\s*$/.test(source.slice(pos, end))) fail('unexpected XML declaration');
    pos = end + 2;
  }
  skipMisc();
  if (source.startsWith('<!DOCTYPE', pos)) {
    const end = source.indexOf('>', pos);
    if (end < 0 || !/^<!DOCTYPE\s+[A-Za-z]+\s*$/.test(source.slice(pos, end))) fail('unsupported DOCTYPE');
    pos = end + 1;
  }
  skipMisc();

  const parseElement = (): XmlElement => {
    if (source.charAt(pos) !== '<') fail('expected an element');
    pos++;
    const element: XmlElement = { name: readName(), attributes: {}, children: [] };
    for (;;) {
      const before = pos;
      skipSpace();
      if (source.startsWith('/>', pos)) {
        pos += 2;
        return element;
      }
      if (source.charAt(pos) === '>') {
        pos++;
        break;
      }
      if (pos === before) fail('expected white space before an attribute');
      const name = readName();
      if (name in element.attributes) fail(`duplicate attribute ${name}`);
      skipSpace();
      if (source.charAt(pos) !== '=') fail('expected =');
      pos++;
      skipSpace();
      const quote = source.charAt(pos);
      if (quote !== '"' && quote !== "'") fail('attribute value not quoted');
      const end = source.indexOf(quote, pos + 1);
      if (end < 0) fail('unterminated attribute value');
      const raw = source.slice(pos + 1, end);
      if (raw.includes('<')) fail('< in an attribute value');
      element.attributes[name] = decode(raw);
      pos = end + 1;
    }
    for (;;) {
      if (pos >= source.length) fail(`unclosed <${element.name}>`);
      if (source.startsWith('</', pos)) {
        pos += 2;
        if (readName() !== element.name) fail(`mismatched end tag for <${element.name}>`);
        skipSpace();
        if (source.charAt(pos) !== '>') fail('expected >');
        pos++;
        return element;
      }
      if (source.startsWith('<!--', pos)) {
        skipMisc();
        continue;
      }
      if (source.startsWith('<![CDATA[', pos)) {
        const end = source.indexOf(']]>', pos);
        if (end < 0) fail('unterminated CDATA section');
        element.children.push(source.slice(pos + 9, end));
        pos = end + 3;
        continue;
      }
      if (source.charAt(pos) === '<') {
        element.children.push(parseElement());
        continue;
      }
      const next = source.indexOf('<', pos);
      const raw = source.slice(pos, next < 0 ? source.length : next);
      if (raw.includes(']]>')) fail(']]> in content');
      element.children.push(decode(raw));
      pos += raw.length;
    }
  };

  const root = parseElement();
  skipMisc();
  if (pos !== source.length) fail('content after the root element');
  return root;
}

/** Every element below (and including) `root`, in document order. */
export function elements(root: XmlElement): XmlElement[] {
  return [root, ...root.children.flatMap((c) => (typeof c === 'string' ? [] : elements(c)))];
}

/** Children of `element` named `name`. */
export function childElements(element: XmlElement, name: string): XmlElement[] {
  return element.children.filter((c): c is XmlElement => typeof c !== 'string' && c.name === name);
}

/** The decoded text of an element and its descendants. */
export function textContent(node: XmlNode): string {
  return typeof node === 'string' ? node : node.children.map(textContent).join('');
}

/** Why xmllint checks cannot run here, or undefined when they can. */
export function xmllintMissing(): string | undefined {
  const probe = spawnSync('xmllint', ['--version'], { encoding: 'utf8' });
  return probe.error === undefined && probe.status === 0 ? undefined : 'xmllint is not installed (Debian: apt-get install libxml2-utils)';
}

/** Runs `xmllint --noout` on a document: well-formedness, as libxml2 judges it. */
export function xmllint(document: string): { ok: boolean; output: string } {
  const run = spawnSync('xmllint', ['--noout', '-'], { input: document, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return { ok: run.status === 0, output: `${run.stdout}${run.stderr}` };
}
