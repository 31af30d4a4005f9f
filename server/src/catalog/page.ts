/**
 * A page of a list (jobs, results, datasets). Pages follow a cursor: the sort key of the last item
 * of the page before (`after`), so an item added or removed between two requests neither repeats
 * nor is skipped, as it did with offsets. Offsets stay for clients that count.
 */

/** The sort key of an item: newest first by [created, id] for jobs and results, [name, id] for datasets. */
export type PageKey = readonly [string, string];

export interface PageRequest {
  limit: number;
  offset?: number;
  after?: PageKey;
}

/**
 * The SQL for a page of a table ordered by `column` (descending or ascending) then id: the WHERE
 * clause that starts after the key, the ORDER BY, LIMIT and OFFSET, with their parameters. One
 * more row than the limit is asked for, so the caller knows whether a next page exists.
 */
export function pageSql(column: string, direction: 'DESC' | 'ASC', page: PageRequest): { sql: string; params: Array<string | number> } {
  const after = page.after ? ` WHERE (${column} ${direction === 'DESC' ? '<' : '>'} ? OR (${column} = ? AND id > ?))` : '';
  const params: Array<string | number> = page.after ? [page.after[0], page.after[0], page.after[1]] : [];
  return { sql: `${after} ORDER BY ${column} ${direction}, id LIMIT ? OFFSET ?`, params: [...params, page.limit + 1, page.offset ?? 0] };
}

/** A page's items (at most `limit` of the `limit + 1` read) and whether more follow. */
export function splitPage<T>(rows: T[], limit: number): { items: T[]; more: boolean } {
  return { items: rows.slice(0, limit), more: rows.length > limit };
}

/** The cursor of a key, as a URL parameter: opaque to clients. */
export function encodeCursor(key: PageKey): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

/** The key of a cursor from encodeCursor; null for anything else. */
export function decodeCursor(cursor: string): PageKey | null {
  try {
    const key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    return Array.isArray(key) && key.length === 2 && key.every((v) => typeof v === 'string' && v.length <= 1000) ? [key[0] as string, key[1] as string] : null;
  } catch {
    return null;
  }
}
