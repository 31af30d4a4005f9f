/**
 * The weight each tile gives its own pixels when overlapping tiles are blended.
 *
 * A Tukey (tapered cosine) window: flat in the middle, a half-cosine ramp over the overlap at each
 * edge. Two neighbours overlapping by exactly `overlap` get weights sin² and cos² of the same angle,
 * which sum to 1, so the blend cross-fades with no bump and the model's unreliable tile borders (zero
 * padding, missing context) count least. The floor keeps edge pixels of a lone tile from getting
 * weight 0.
 */
export function blendWindow(size: number, overlap: number): Float32Array {
  const w = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    const d = Math.min(i, size - 1 - i) + 0.5;
    w[i] = overlap > 0 && d < overlap ? Math.max(1e-3, Math.sin((Math.PI / 2) * (d / overlap)) ** 2) : 1;
  }
  return w;
}
