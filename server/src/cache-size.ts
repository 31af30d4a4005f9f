/**
 * Cache sizes an operator sets in megabytes (SATSEG_HTTP_CACHE_MB, SATSEG_BLOCK_CACHE_MB,
 * SATSEG_TILE_CACHE_MB). The caches are made when their modules load, so a bad value must not
 * throw there: lru-cache's own TypeError ("maxSize must be a positive integer") killed the import
 * for "0.07", "abc", "0" or "-1". A bad value falls back to the default where it is read, and the
 * command line refuses it up front with one line (cacheSizeProblems).
 */
export const CACHE_SIZE_SETTINGS = ['SATSEG_HTTP_CACHE_MB', 'SATSEG_BLOCK_CACHE_MB', 'SATSEG_TILE_CACHE_MB'] as const;

function parse(value: string | undefined): number | null {
  if (value === undefined || value.trim() === '') return null;
  const mb = Number(value);
  return Number.isFinite(mb) && mb >= 0 && mb <= 1 << 20 ? mb : Number.NaN;
}

/**
 * The bytes a cache may hold: the setting's megabytes in whole bytes (0 turns a cache off, as
 * far as its owner allows: an LRU keeps at least a byte), or the default.
 */
export function cacheBytes(name: (typeof CACHE_SIZE_SETTINGS)[number], fallbackMb: number): number {
  const mb = parse(process.env[name]);
  return Math.floor((mb === null || Number.isNaN(mb) ? fallbackMb : mb) * 2 ** 20);
}

/** One line per cache size set to something that is not a positive number of megabytes. */
export function cacheSizeProblems(): string[] {
  return CACHE_SIZE_SETTINGS.filter((name) => Number.isNaN(parse(process.env[name])))
    .map((name) => `${name} must be a number of megabytes from 0 to 1048576 (got "${String(process.env[name]).slice(0, 40)}")`);
}
