/**
 * The comparison's inner loop against a per-pixel reference written here: four pixels at a time
 * where rows are aligned, byte by byte where they are not (odd widths) or where a quad reaches
 * outside the after mask, ids beyond the class list, nodata on either side, and the row counts.
 */
import { describe, expect, it } from 'vitest';
import { encodeTransitions, pairCodes, transitionCodesPresent } from '../../server/src/change/encode-transitions.ts';
import type { StripMap } from '../../server/src/change/grid-mapping.ts';
import { seededRandom } from '../fixtures/seeded-random.ts';

const NODATA = 255;

/** Output (row j, column i) reads after pixel (j - y0, (i + 3) mod width) of a window `rows` high; -1 where `outside(i, j)`. */
function shiftedMap(x0: number, x1: number, y0: number, width: number, rows: number, outside: (i: number, j: number) => boolean): StripMap {
  return {
    x0, x1, window: { x: 0, y: 0, width, height: rows },
    row(j, out) { for (let i = x0; i < x1; i++) out[i - x0] = outside(i, j) ? -1 : (j - y0) * width + (i + 3) % width; },
  };
}

describe('encodeTransitions', () => {
  for (const width of [16, 13, 7]) {
    it(`matches a per-pixel reference on rows ${width} wide (outside pixels, nodata, ids beyond the list)`, () => {
      const classes = 3;
      const rows = 5;
      const random = seededRandom(width);
      const id = () => { const r = random(); return r < 0.1 ? NODATA : r < 0.15 ? 7 : Math.floor(r * 10) % classes; };
      const beforeIds = Uint8Array.from({ length: rows * width }, id);
      const afterIds = Uint8Array.from({ length: rows * width }, id);
      const outside = (i: number, j: number) => (i * 7 + j * 3) % 11 === 0;
      const x0 = 1;
      const x1 = width;
      const map = shiftedMap(x0, x1, 10, width, rows, outside);
      const codes = new Uint8Array(rows * width).fill(NODATA);
      const tallied: Array<[number, number[]]> = [];
      const tally = { unlisted: 0, addRow(row: number, counts: Uint32Array) { tallied.push([row, Array.from(counts)]); } };
      const inside = encodeTransitions({
        map, y: 10, rows, width, beforeIds, afterIds, beforeOk: null, afterOk: null, inArea: null, areaStride: 0, areaOffset: 0,
        pairCode: pairCodes(classes, NODATA, NODATA), codesPresent: transitionCodesPresent(classes), codes, tally: tally as never,
      }, new Int32Array(width), new Uint32Array(256));

      const expected = new Uint8Array(rows * width).fill(NODATA);
      let expectedInside = 0;
      let unlisted = 0;
      const expectedCounts: number[][] = [];
      const index = new Int32Array(width);
      for (let r = 0; r < rows; r++) {
        const counts = new Array<number>(256).fill(0);
        map.row(10 + r, index);
        for (let i = x0; i < x1; i++) {
          const k = index[i - x0]!;
          let code = NODATA;
          if (k >= 0) {
            expectedInside++;
            const f = beforeIds[r * width + i]!;
            const t = afterIds[k]!;
            if (f !== NODATA && t !== NODATA) {
              if (f < classes && t < classes) code = f * classes + t;
              else unlisted++;
            }
          }
          expected[r * width + i] = code;
          counts[code]!++;
        }
        expectedCounts.push(counts);
      }
      expect(Array.from(codes)).toEqual(Array.from(expected));
      expect(inside).toBe(expectedInside);
      expect(tally.unlisted).toBe(unlisted);
      expect(unlisted).toBeGreaterThan(0);
      expect(tallied.map(([row]) => row)).toEqual([10, 11, 12, 13, 14]);
      tallied.forEach(([, counts], r) => expect(counts, `row ${r}`).toEqual(expectedCounts[r]));
    });
  }
});
