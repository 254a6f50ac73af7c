/** How many items a rule names in its evidence before it only counts the rest. */
export const EVIDENCE_ITEMS = 5;

/**
 * Joins the first few items for evidence and counts the rest, so a rule that
 * finds 3,000 offending files still reports a short, readable line.
 *
 * @example listItems(['/a', '/b', '/c'], 2) // '/a, /b (and 1 more)'
 */
export function listItems(items: readonly string[], limit: number = EVIDENCE_ITEMS): string {
  const shown = items.slice(0, limit).join(', ');
  const rest = items.length - limit;
  return rest > 0 ? `${shown} (and ${rest} more)` : shown;
}
