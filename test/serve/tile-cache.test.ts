/**
 * The tile cache holds what its budget says: entries are charged their keys and bookkeeping as
 * well as their bodies, and empty tiles (204, outside the data) are not kept, so a client
 * requesting endless tiles cannot grow the heap.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { TileCache } from '../../server/src/serve/tile-cache.ts';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

function heapAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

describe('tile cache', () => {
  it('keeps within its byte budget on the heap, small tiles and empty ones alike', () => {
    const budget = 32 * 2 ** 20;
    const before = heapAfterGc();
    const cache = new TileCache(budget);
    const body = Buffer.alloc(10);
    for (let i = 0; i < 1_000_000; i++) {
      const key = `d:abcdefghijkl:123456:1700000000000.123:1,2,3:null::18/${100000 + i}/${200000 + (i % 977)}.png`;
      cache.set(key, i % 2 ? null : body, 'image/png');
    }
    const grown = heapAfterGc() - before;
    expect(cache.size).toBeLessThan(100_000);
    expect(cache.size).toBeGreaterThan(40_000);
    // What the cache holds on the heap is within 20 % of its budget.
    expect(grown).toBeLessThan(budget * 1.2);
  });

  it('does not keep empty tiles', () => {
    const cache = new TileCache();
    const entry = cache.set('outside', null, 'image/png');
    expect(entry.etag).toMatch(/^"/);
    expect(cache.get('outside')).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('bodies are charged with their entries', () => {
    const cache = new TileCache(1024 * 1024);
    for (let i = 0; i < 100; i++) cache.set(`k${i}`, Buffer.alloc(100 * 1024), 'image/png');
    // 1 MiB holds 10 bodies of 100 KiB with their entries, not more.
    expect(cache.size).toBe(10);
    expect(cache.get('k99')?.body?.length).toBe(100 * 1024);
    expect(cache.get('k0')).toBeUndefined();
  });
});
