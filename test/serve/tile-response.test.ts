/**
 * The render slots tiles share: one layer (a dataset whose remote server answers slowly) holds at
 * most half of them, so tiles of the others are still drawn while its renders wait.
 */
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { tileResponse } from '../../server/src/serve/tile-response.ts';
import { TileCache } from '../../server/src/serve/tile-cache.ts';

const slots = Math.max(2, 2 * os.availableParallelism());

describe('tileResponse', () => {
  it('keeps half the render slots from the datasets of a server whose renders hang (two datasets, one server), so another layer\'s tile is drawn meanwhile', async () => {
    const cache = new TileCache();
    const release: Array<() => void> = [];
    let started = 0;
    const hanging = Array.from({ length: slots + 2 }, (_, i) => tileResponse(new Request('http://t/'), cache, `d:${i % 2 ? 'slowA' : 'slowB'}:v:s:1/${i}/0.png`, 'png', 'host:slow.example', () => {
      started++;
      return new Promise((resolve) => { release.push(() => resolve(null)); });
    }));
    await new Promise((r) => setTimeout(r, 20));
    expect(started).toBe(Math.floor(slots / 2));
    // Another dataset's tile renders at once.
    const other = await tileResponse(new Request('http://t/'), cache, 'd:quick:v:s:1/0/0.png', 'png', 'd:quick', async () => null);
    expect(other.status).toBe(204);
    // The slow layer's renders go on, half the slots at a time, as each ends.
    while (release.length) release.shift()!();
    for (let i = 0; i < 10 && started < slots + 2; i++) {
      await new Promise((r) => setTimeout(r, 10));
      while (release.length) release.shift()!();
    }
    expect((await Promise.all(hanging)).map((r) => r.status)).toEqual(Array(slots + 2).fill(204));
  });
});
