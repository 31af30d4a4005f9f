/**
 * Encoded tiles in memory, bounded in bytes. Keys carry everything that changes the bytes
 * (dataset, file version, style, format), so an entry never goes stale.
 *
 * Every entry is charged what it holds, not only its body: its key, ETag, object and the LRU's
 * bookkeeping cost about 430 bytes of heap (measured: a million entries, 409 MB). Charging only
 * the body (64 bytes for an empty tile) let a client asking for tiles outside the data fill the
 * cache with millions of 204s: the live heap grew by 600 MB in four minutes under a 128 MB budget,
 * with no plateau. Empty tiles are not kept at all: outside the data they cost one bounds test to
 * answer again, and there is no end to them.
 */
import crypto from 'node:crypto';
import { LRUCache } from 'lru-cache';

export interface CachedTile {
  body: Buffer | null;
  etag: string;
  contentType: string;
}

/** Heap an entry takes besides its key and body (key string header, ETag, objects, LRU slots). */
const ENTRY_BYTES = 400;

export class TileCache {
  private readonly lru: LRUCache<string, CachedTile> | null;
  hits = 0;
  misses = 0;

  /** maxBytes 0 disables caching (benchmarks of cold rendering). */
  constructor(maxBytes = 128 * 1024 * 1024) {
    this.lru = maxBytes > 0 ? new LRUCache({ maxSize: maxBytes, sizeCalculation: (t, key) => ENTRY_BYTES + key.length + (t.body?.length ?? 0) }) : null;
  }

  get(key: string): CachedTile | undefined {
    const hit = this.lru?.get(key);
    if (hit) this.hits++; else this.misses++;
    return hit;
  }

  set(key: string, body: Buffer | null, contentType: string): CachedTile {
    const etag = `"${crypto.createHash('sha1').update(body ?? 'empty').update(contentType).digest('base64url').slice(0, 20)}"`;
    const entry = { body, etag, contentType };
    if (body) this.lru?.set(key, entry);
    return entry;
  }

  /** Forget every tile of one dataset or result (after delete or re-register). */
  dropPrefix(prefix: string): void {
    if (!this.lru) return;
    for (const key of this.lru.keys()) if (key.startsWith(prefix)) this.lru.delete(key);
  }

  get size(): number {
    return this.lru?.size ?? 0;
  }
}
