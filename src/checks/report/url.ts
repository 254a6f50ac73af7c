/**
 * The one place a reference string from a node may become a link: only absolute
 * http and https URLs, in the URL parser's normalised form (so `java\nscript:`,
 * padded or mixed-case schemes and the like are judged as a browser would read them).
 */
export function httpUrl(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined;
  return url.href;
}
