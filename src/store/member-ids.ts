// Member id lists as both stores take them from a request.

/**
 * Ids in key order, duplicates dropped: lookups and inserts then walk the indexes in order (SQLite: the users
 * (tenant, id) index; PostgreSQL: also the order in which row locks are taken, so concurrent writes cannot deadlock).
 */
export function uniqueSorted(ids: string[]): string[] {
  if (ids.length < 2) return ids;
  const sorted = ids.slice().sort();
  let n = 1;
  for (let i = 1; i < sorted.length; i++) if (sorted[i] !== sorted[n - 1]) sorted[n++] = sorted[i];
  sorted.length = n;
  return sorted;
}

/**
 * A member page cursor (a user's rid, as text) as the number the member queries compare with; `fallback` when there
 * is none or it is not a rid (0 for "after": from the start; MAX_SAFE_INTEGER for "through": to the end).
 */
export function cursorRid(cursor: string | undefined, fallback: number): number {
  const n = cursor === undefined ? NaN : Number(cursor);
  return Number.isSafeInteger(n) ? n : fallback;
}
