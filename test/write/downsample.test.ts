/**
 * halveRows' mode against a plain count of each 2 x 2 block's votes (nodata does not vote; ties go
 * to the value seen first, in the order top-left, top-right, bottom-left, bottom-right), on random
 * rows with few classes (many ties and repeats), nodata, odd widths and a missing bottom row.
 */
import { describe, expect, it } from 'vitest';
import { halveRows } from '../../server/src/write/downsample.ts';
import { seededRandom } from '../fixtures/seeded-random.ts';

function countedMode(votes: number[], nodata: number): number {
  const valid = votes.filter((v) => v !== nodata);
  if (!valid.length) return nodata;
  let best = valid[0]!;
  let bestCount = 0;
  for (const v of valid) {
    const c = valid.filter((w) => w === v).length;
    if (c > bestCount) { best = v; bestCount = c; }
  }
  return best;
}

describe('halveRows mode', () => {
  it('equals the counted mode of every block', () => {
    const rand = seededRandom(7);
    for (let trial = 0; trial < 400; trial++) {
      const width = 1 + Math.floor(rand() * 40);
      const classes = 1 + Math.floor(rand() * 4);
      const pick = () => (rand() < 0.1 ? 255 : Math.floor(rand() * classes));
      const a = Uint8Array.from({ length: width }, pick);
      const b = rand() < 0.2 ? null : Uint8Array.from({ length: width }, pick);
      const out = new Uint8Array((width + 1) >> 1);
      halveRows(a, b, width, out, 'mode', 255);
      for (let x = 0; x < out.length; x++) {
        const votes = [a[2 * x]!];
        if (2 * x + 1 < width) votes.push(a[2 * x + 1]!);
        if (b) { votes.push(b[2 * x]!); if (2 * x + 1 < width) votes.push(b[2 * x + 1]!); }
        expect(out[x]).toBe(countedMode(votes, 255));
      }
    }
  });
});
