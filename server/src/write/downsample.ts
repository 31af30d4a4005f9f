/**
 * Halving a pair of rows for the next overview level.
 *
 * Class masks use the mode of each 2x2 block: averaging class ids would invent classes that are not
 * there (the mean of "water" = 4 and "building" = 0 is "road" = 2). Ties go to the top-left pixel,
 * which makes the mode degrade to nearest-neighbour where all four differ. Continuous rasters
 * (confidence) use the mean.
 */
export type OverviewResampling = 'mode' | 'average';

/**
 * Downsample rows `a` and `b` (b may be null at an odd bottom edge) of width `width` into `out`
 * (width ceil(width/2)). Pixels equal to `nodata` do not vote; a block of nodata stays nodata.
 */
export function halveRows(a: Uint8Array, b: Uint8Array | null, width: number, out: Uint8Array, method: OverviewResampling, nodata: number | null): void {
  const outWidth = (width + 1) >> 1;
  const nd = nodata ?? -1;
  const empty = nd < 0 ? 0 : nd;
  const votes = new Int32Array(4);
  for (let x = 0; x < outWidth; x++) {
    const x0 = 2 * x;
    const hasRight = x0 + 1 < width;
    if (method === 'mode' && b && hasRight) {
      // Four votes and none nodata, nearly every block of a mask: the same answer as counting
      // below (the first value seen twice wins, else the first), in a few comparisons.
      const p = a[x0]!, q = a[x0 + 1]!, r = b[x0]!, s = b[x0 + 1]!;
      if (p !== nd && q !== nd && r !== nd && s !== nd) {
        out[x] = p === q || p === r || p === s ? p : q === r || q === s ? q : r === s ? r : p;
        continue;
      }
    }
    let n = 0;
    let v = a[x0]!;
    if (v !== nd) votes[n++] = v;
    if (hasRight) { v = a[x0 + 1]!; if (v !== nd) votes[n++] = v; }
    if (b) {
      v = b[x0]!;
      if (v !== nd) votes[n++] = v;
      if (hasRight) { v = b[x0 + 1]!; if (v !== nd) votes[n++] = v; }
    }
    if (n === 0) { out[x] = empty; continue; }
    if (method === 'average') {
      let s = 0;
      for (let i = 0; i < n; i++) s += votes[i]!;
      out[x] = Math.round(s / n);
      continue;
    }
    // Mode of at most four values; the first seen wins ties.
    let best = votes[0]!;
    let bestCount = 0;
    for (let i = 0; i < n; i++) {
      let c = 0;
      for (let j = 0; j < n; j++) if (votes[j] === votes[i]) c++;
      if (c > bestCount) { best = votes[i]!; bestCount = c; }
    }
    out[x] = best;
  }
}
