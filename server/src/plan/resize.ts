/**
 * Resampling stacks of float planes between the scene's pixels and a model's, one axis at a time.
 * Along an axis each destination pixel covers an interval of source pixels: where that interval
 * is at most one pixel (enlarging) it is read bilinearly at its centre; where it is wider
 * (shrinking) the covered area is averaged, so small features are not aliased away. Separable
 * weights give the same result as the 2-D forms, and let each axis enlarge or shrink on its own
 * (pixels that are not square on the ground).
 */

/** For each destination pixel along one axis: the source pixels it reads, with their weights. */
export interface Taps {
  /** Destination pixel d reads index[first[d]..first[d + 1]) with weight[...]; length + 1 entries. */
  first: Int32Array;
  index: Int32Array;
  weight: Float32Array;
}

/**
 * Taps for `destLength` pixels, destination pixel d covering source pixels [offset + d * scale,
 * offset + (d + 1) * scale) of a source `sourceLength` long. Positions outside the source are
 * clamped to its edge pixels.
 */
export function axisTaps(sourceLength: number, destLength: number, scale: number, offset: number): Taps {
  const first = new Int32Array(destLength + 1);
  const index: number[] = [];
  const weight: number[] = [];
  const last = sourceLength - 1;
  for (let d = 0; d < destLength; d++) {
    first[d] = index.length;
    const lo = offset + d * scale;
    const hi = lo + scale;
    if (scale <= 1) {
      const c = Math.min(last, Math.max(0, lo + scale / 2 - 0.5));
      const i0 = Math.floor(c);
      const w = c - i0;
      index.push(i0);
      weight.push(1 - w);
      if (w > 1e-9) { index.push(Math.min(last, i0 + 1)); weight.push(w); }
      continue;
    }
    const from = Math.max(0, Math.floor(lo));
    const to = Math.min(sourceLength, Math.ceil(hi));
    const start = index.length;
    let total = 0;
    for (let i = from; i < to; i++) {
      const h = Math.min(hi, i + 1) - Math.max(lo, i);
      // Slivers from rounding (a pixel edge computed from two origins) read nothing.
      if (h <= 1e-9) continue;
      index.push(i);
      weight.push(h);
      total += h;
    }
    if (total === 0) {
      // Wholly outside the source: its nearest edge pixel.
      index.push(Math.min(last, Math.max(0, Math.floor(lo + scale / 2))));
      weight.push(1);
      continue;
    }
    for (let k = start; k < index.length; k++) weight[k]! /= total;
  }
  first[destLength] = index.length;
  return { first, index: Int32Array.from(index), weight: Float32Array.from(weight) };
}

/**
 * `planes` planes of sw x sh source pixels → planes of xTaps x yTaps destination pixels (their
 * lengths), along x first, then y.
 */
export function resamplePlanes(src: Float32Array, planes: number, sw: number, sh: number, xTaps: Taps, yTaps: Taps): Float32Array {
  const dw = xTaps.first.length - 1;
  const dh = yTaps.first.length - 1;
  const across = new Float32Array(planes * sh * dw);
  const { first: fx, index: ix, weight: wx } = xTaps;
  for (let row = 0; row < planes * sh; row++) {
    const s = row * sw;
    const d = row * dw;
    for (let x = 0; x < dw; x++) {
      let v = 0;
      for (let k = fx[x]!; k < fx[x + 1]!; k++) v += src[s + ix[k]!]! * wx[k]!;
      across[d + x] = v;
    }
  }
  const out = new Float32Array(planes * dh * dw);
  const { first: fy, index: iy, weight: wy } = yTaps;
  for (let p = 0; p < planes; p++) {
    const s = p * sh * dw;
    const d = p * dh * dw;
    for (let y = 0; y < dh; y++) {
      const o = d + y * dw;
      for (let k = fy[y]!; k < fy[y + 1]!; k++) {
        const r = s + iy[k]! * dw;
        const w = wy[k]!;
        for (let x = 0; x < dw; x++) out[o + x]! += across[r + x]! * w;
      }
    }
  }
  return out;
}

/** The whole of a sw x sh source onto dw x dh pixels. */
export function resizePlanes(src: Float32Array, planes: number, sw: number, sh: number, dw: number, dh: number): Float32Array {
  return resamplePlanes(src, planes, sw, sh, axisTaps(sw, dw, sw / dw, 0), axisTaps(sh, dh, sh / dh, 0));
}
