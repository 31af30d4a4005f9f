/** addByteCounts against a plain count, for every length modulo 4 and with a list of present values. */
import { describe, expect, it } from 'vitest';
import { addByteCounts } from '../server/src/byte-histogram.ts';
import { seededRandom } from './fixtures/seeded-random.ts';

describe('addByteCounts', () => {
  it('adds the count of each value, all 256 or only those listed, and leaves nothing behind for the next call', () => {
    const random = seededRandom(7);
    for (const length of [0, 1, 2, 3, 4, 5, 1023]) {
      const values = Uint8Array.from({ length }, () => (random() < 0.5 ? 255 : Math.floor(random() * 6)));
      const expected = new Array<number>(256).fill(0);
      for (const v of values) expected[v]!++;
      const counts = new Float64Array(256).fill(1);
      addByteCounts(values, counts);
      expect(Array.from(counts), `length ${length}`).toEqual(expected.map((c) => c + 1));
      const listed = new Uint32Array(256);
      addByteCounts(values, listed, [0, 1, 2, 3, 4, 5, 255]);
      expect(Array.from(listed), `length ${length}, listed`).toEqual(expected);
    }
  });
});
