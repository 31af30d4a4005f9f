/**
 * Resampling stacks of float planes between the scene's resolution and a model's.
 * Enlarging uses bilinear interpolation; shrinking averages the covered area, so small
 * features are not aliased away.
 */
export function resizePlanes(src: Float32Array, planes: number, sw: number, sh: number, dw: number, dh: number): Float32Array {
  const out = new Float32Array(planes * dw * dh);
  const sx = sw / dw;
  const sy = sh / dh;
  if (sx <= 1 && sy <= 1) {
    for (let p = 0; p < planes; p++) {
      const s = p * sw * sh;
      const d = p * dw * dh;
      for (let y = 0; y < dh; y++) {
        const fy = Math.min(sh - 1, Math.max(0, (y + 0.5) * sy - 0.5));
        const y0 = Math.floor(fy);
        const y1 = Math.min(sh - 1, y0 + 1);
        const wy = fy - y0;
        for (let x = 0; x < dw; x++) {
          const fx = Math.min(sw - 1, Math.max(0, (x + 0.5) * sx - 0.5));
          const x0 = Math.floor(fx);
          const x1 = Math.min(sw - 1, x0 + 1);
          const wx = fx - x0;
          const top = src[s + y0 * sw + x0]! * (1 - wx) + src[s + y0 * sw + x1]! * wx;
          const bottom = src[s + y1 * sw + x0]! * (1 - wx) + src[s + y1 * sw + x1]! * wx;
          out[d + y * dw + x] = top * (1 - wy) + bottom * wy;
        }
      }
    }
    return out;
  }
  // Area average: each output pixel is the mean of the source pixels its footprint covers (partially).
  for (let p = 0; p < planes; p++) {
    const s = p * sw * sh;
    const d = p * dw * dh;
    for (let y = 0; y < dh; y++) {
      const ya = y * sy;
      const yb = Math.min(sh, (y + 1) * sy);
      for (let x = 0; x < dw; x++) {
        const xa = x * sx;
        const xb = Math.min(sw, (x + 1) * sx);
        let sum = 0;
        let area = 0;
        for (let yy = Math.floor(ya); yy < Math.ceil(yb); yy++) {
          const hy = Math.min(yb, yy + 1) - Math.max(ya, yy);
          for (let xx = Math.floor(xa); xx < Math.ceil(xb); xx++) {
            const hx = Math.min(xb, xx + 1) - Math.max(xa, xx);
            const a = hx * hy;
            sum += src[s + yy * sw + xx]! * a;
            area += a;
          }
        }
        out[d + y * dw + x] = area > 0 ? sum / area : 0;
      }
    }
  }
  return out;
}
