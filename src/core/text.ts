/** A lone UTF-16 surrogate: text that no encoding can carry and no hash input should see. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export function isWellFormedText(text: string): boolean {
  return !LONE_SURROGATE.test(text);
}

/** The path of the first string in a JSON-like value that is not well-formed Unicode, or undefined. */
export function findMalformedText(value: unknown, path = ''): string | undefined {
  if (typeof value === 'string') return isWellFormedText(value) ? undefined : path || '(value)';
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      const found = findMalformedText(item, `${path}[${i}]`);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      const found = isWellFormedText(key) ? findMalformedText(item, path ? `${path}.${key}` : key) : path || '(key)';
      if (found !== undefined) return found;
    }
  }
  return undefined;
}
