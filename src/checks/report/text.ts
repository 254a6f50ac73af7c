/**
 * Text clean-up shared by every report writer. Report text comes from nodes, so
 * a hostile node decides its length and its characters; these helpers bound the
 * one and make the other representable in each output format.
 */

const LONE_SURROGATES = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * Replaces lone UTF-16 surrogates with U+FFFD: JSON.stringify would keep them as
 * `\udXXX` escapes that strict parsers (Go, Rust) reject, and UTF-8 cannot carry them.
 */
export function wellFormed(text: string): string {
  return text.replace(LONE_SURROGATES, '\uFFFD');
}

/** Cuts text to at most `max` UTF-16 units, marking the cut; never leaves half a surrogate pair. */
export function clampText(text: string, max: number): string {
  if (text.length <= max) return wellFormed(text);
  return `${wellFormed(text.slice(0, max - 1))}…`;
}

/**
 * Everything XML 1.0 forbids (C0 controls but tab, LF and CR; lone surrogates;
 * U+FFFE, U+FFFF), plus DEL and C1 controls, which XML allows but HTML treats as
 * parse errors and no reader shows.
 */
const NOT_XML_TEXT = /[^\t\n\r\u{20}-\u{7E}\u{A0}-\u{D7FF}\u{E000}-\u{FFFD}\u{10000}-\u{10FFFF}]/gu;

/** Replaces each character a markup document must not hold with U+FFFD. */
export function markupSafe(text: string): string {
  return text.replace(NOT_XML_TEXT, '\uFFFD');
}

const MARKUP_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for XML or HTML content (`>` too, so `]]>` never appears). */
export function escapeMarkupText(text: string): string {
  return markupSafe(text).replace(/[&<>]/g, (c) => MARKUP_ESCAPES[c] ?? c);
}

const WHITESPACE_REFS: Record<string, string> = { '\t': '&#9;', '\n': '&#10;', '\r': '&#13;' };

/**
 * Escapes text for a quoted XML or HTML attribute. Tab, LF and CR become
 * character references because an XML parser would otherwise normalise them to spaces.
 */
export function escapeMarkupAttribute(text: string): string {
  return markupSafe(text).replace(/[&<>"'\t\n\r]/g, (c) => MARKUP_ESCAPES[c] ?? WHITESPACE_REFS[c] ?? c);
}

/** ` name="value"` for each defined attribute, in the given order, values escaped. */
export function markupAttributes(attributes: Record<string, string | number | undefined>): string {
  return Object.entries(attributes)
    .filter((entry): entry is [string, string | number] => entry[1] !== undefined)
    .map(([name, value]) => ` ${name}="${escapeMarkupAttribute(String(value))}"`)
    .join('');
}
