/**
 * Splits `items`, in order, into micro-batches (one training graph each) of at most `maxTokens`
 * tokens and `maxItems` items; an item over the token budget goes alone. A graph's memory grows
 * with its tokens, so the budget bounds it.
 */
export function microBatches<T>(items: readonly T[], tokensOf: (item: T) => number, maxTokens: number, maxItems = Infinity): T[][] {
  const out: T[][] = [];
  let cur: T[] = [];
  let tokens = 0;
  for (const item of items) {
    const t = tokensOf(item);
    if (cur.length > 0 && (cur.length >= maxItems || tokens + t > maxTokens)) {
      out.push(cur);
      cur = [];
      tokens = 0;
    }
    cur.push(item);
    tokens += t;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}
