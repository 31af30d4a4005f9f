/**
 * Builds models/dynamic-world/model.onnx from Google's published Dynamic World forward model
 * (TensorFlow SavedModel, Apache-2.0) without TensorFlow. Run:
 *   npx tsx models/dynamic-world/build-model.ts [path/to/shared/models/dynamicworld]
 *
 * The weights come straight from the SavedModel's tensor bundle (tf-bundle.ts, keras-source.ts);
 * the graph below restates the Keras functional model in ONNX ops, in NCHW:
 *
 *   raw TOA x 1e4 → normalisation (in the graph, so the runtime passes raw values through)
 *   → conv 3x3 9→64, BN, mish → antialiased bilinear downscale to (⌊H/2⌋, ⌊W/2⌋)
 *   → three branches at half resolution (see `buildGraph`) → 144 channels
 *   → bilinear upscale to (H, W) → L2-normalise over channels → conv 1x1 144→9 = logits
 *   → softmax (the `probabilities` variant, the one the runtime uses).
 *
 * Two details decide whether the port is exact (models/dynamic-world/README.md has the checks):
 * - TF's first resize is `tf.image.resize(antialias=True)`, i.e. ScaleAndTranslate with a
 *   triangle kernel stretched by 1/scale. For odd sizes the scale is ⌊n/2⌋/n, so the taps are not a
 *   fixed stride-2 filter; the weights are computed in the graph from the input size (Gather).
 * - BatchNorm runs in inference mode (epsilon 0.001) and is folded into the preceding conv.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TensorType, writeOnnxModel, type AttributeValue, type GraphNode, type Tensor } from '../../server/src/infer/onnx-proto.ts';
import { layerWeight, loadDynamicWorldSource, type DynamicWorldSource } from './keras-source.ts';

export const DW_CLASSES = ['water', 'trees', 'grass', 'flooded_vegetation', 'crops', 'shrub_and_scrub', 'built', 'bare', 'snow_and_ice'];
export const DW_COLORS = ['#419BDF', '#397D49', '#88B053', '#7A87C6', '#E49635', '#DFC35A', '#C4281B', '#A59B8F', '#B39FE1'];
export const DW_BANDS = ['B2', 'B3', 'B4', 'B5', 'B6', 'B7', 'B8', 'B11', 'B12'];
/**
 * Per-band (centre, scale) of the log-transformed reflectance, in DW_BANDS order, from the
 * model's published runner notebook (google/dynamicworld).
 */
export const DW_NORM_PERCENTILES: ReadonlyArray<readonly [number, number]> = [
  [1.7417268007636313, 2.023298706048351], [1.7261204997060209, 2.038905204308012],
  [1.6798346251414997, 2.179592821212937], [1.7734969472909623, 2.2890068333026603],
  [2.289154079164943, 2.6171674549378166], [2.382939712192371, 2.773418590375327],
  [2.3828939530384052, 2.7578332604178284], [2.1952484264967844, 2.789092484314204],
  [1.554812948247501, 2.4140534947492487],
];
const BN_EPSILON = 0.001;
const L2_EPSILON = 1e-12;
/**
 * Taps per output pixel of the antialiased halving: the triangle kernel stretched by n/⌊n/2⌋ ≤ 2.5
 * (n ≥ 5) spans an open interval of at most 5 pixels; n < 5 has at most n pixels to take.
 */
const DOWNSCALE_TAPS = 5;
export const TILE_SIZE = 512;
/** Percent of the tile: 64 px at 512, 32 px of context on each side of every tile seam. */
export const TILES_OVERLAP_PERCENT = 12.5;

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const defaultSourceDir = path.join(process.env.SATSEG_SHARED ?? path.resolve(repoRoot, '../shared'), 'models/dynamicworld');

export interface BuildOptions {
  /** `probabilities` (softmax, the shipped model) or `logits` (for exactness checks). */
  output?: 'probabilities' | 'logits';
  /** Fold BatchNorm into the convs (shipped) or keep ONNX BatchNormalization nodes (to check folding). */
  foldBatchNorm?: boolean;
  /** Also output the first layer's conv before BN, `[N, 64, H, W]` (for the BN-statistics check). */
  firstConvOutput?: boolean;
}

/** Small helper that names intermediate values and collects nodes and constants. */
class Graph {
  readonly nodes: GraphNode[] = [];
  readonly initializers: Tensor[] = [];
  private n = 0;

  op(op: string, inputs: string[], attributes?: Record<string, AttributeValue>, name?: string): string {
    const out = name ?? `${op.toLowerCase()}_${this.n++}`;
    this.nodes.push({ op, inputs, outputs: [out], attributes });
    return out;
  }

  private readonly constants = new Map<string, string>();

  /** A named constant; asking again for the same name and value reuses it. */
  private constant(name: string, dims: number[], dataType: number, values: ArrayLike<number>): string {
    const signature = JSON.stringify([dims, dataType, Array.from(values)]);
    const known = this.constants.get(name);
    if (known === undefined) {
      this.constants.set(name, signature);
      this.initializers.push({ name, dims, dataType, values });
    } else if (known !== signature) {
      throw new Error(`constant ${name} is defined twice with different values`);
    }
    return name;
  }

  f32(name: string, dims: number[], values: ArrayLike<number>): string {
    return this.constant(name, dims, TensorType.FLOAT, values);
  }

  i64(name: string, dims: number[], values: number[]): string {
    return this.constant(name, dims, TensorType.INT64, values);
  }

  scalar(name: string, value: number): string {
    return this.f32(name, [], [value]);
  }
}

/** TF kernels are HWIO ([kh, kw, in, out]); ONNX wants OIHW. */
function hwioToOihw(data: Float32Array, kh: number, kw: number, cin: number, cout: number): Float64Array {
  const out = new Float64Array(data.length);
  for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) for (let i = 0; i < cin; i++) for (let o = 0; o < cout; o++) {
    out[((o * cin + i) * kh + y) * kw + x] = data[((y * kw + x) * cin + i) * cout + o]!;
  }
  return out;
}

class DynamicWorldGraph {
  readonly g = new Graph();

  constructor(private readonly src: DynamicWorldSource, private readonly fold: boolean) {}

  /**
   * mish(x) = x·tanh(softplus(x)) = x·n/(n + 2) with n = eˣ(eˣ + 2), since
   * tanh(ln(1 + eˣ)) = ((1 + eˣ)² − 1)/((1 + eˣ)² + 1). onnxruntime's Softplus is scalar code and
   * took two thirds of the run time; Exp is vectorised, and this form is as exact (x is clamped at
   * 20 inside the exponential, where the ratio is already 1 in float32 and e²ˣ would overflow).
   */
  private mish(x: string): string {
    const g = this.g;
    const e = g.op('Exp', [g.op('Min', [x, g.scalar('mish.clamp', 20)])]);
    const n = g.op('Mul', [e, g.op('Add', [e, g.scalar('mish.two', 2)])]);
    return g.op('Mul', [x, g.op('Div', [n, g.op('Add', [n, g.scalar('mish.two', 2)])])]);
  }

  /**
   * A Keras Conv2D (kind `conv`, kernel HWIO) or DepthwiseConv2D (kind `depthwise`, kernel
   * [kh, kw, C, 1]), both stride 1, with SAME padding for 3x3 and VALID for 1x1 (= no padding at
   * stride 1 either way), followed by its BatchNorm and mish when `bn` is given. `convOutput`
   * names the conv's own (pre-BN) output, so a caller can expose it.
   */
  conv(x: string, layer: string, bn: string | null, kind: 'conv' | 'depthwise', convOutput?: string): string {
    const kernel = layerWeight(this.src, layer, kind === 'conv' ? 'kernel' : 'depthwise_kernel');
    const bias = layerWeight(this.src, layer, 'bias').data;
    const [kh, kw, cin, last] = kernel.shape as [number, number, number, number];
    const cout = kind === 'conv' ? last : cin;
    const groups = kind === 'conv' ? 1 : cin;
    // Depthwise [kh, kw, C, 1] is HWIO with I = C and O = 1, which OIHW lays out as [1, C, kh, kw];
    // ONNX's grouped conv wants [C, 1, kh, kw]: the same bytes, other dims.
    const w = hwioToOihw(kernel.data, kh, kw, cin, last);
    const wDims = kind === 'conv' ? [cout, cin, kh, kw] : [cin, 1, kh, kw];
    const b = Float64Array.from(bias);
    const pad = (kh - 1) / 2;
    const attrs: Record<string, AttributeValue> = { kernel_shape: [kh, kw], pads: [pad, pad, pad, pad], group: groups };
    if (!bn) return this.g.op('Conv', [x, this.g.f32(`${layer}.w`, wDims, w), this.g.f32(`${layer}.b`, [cout], b)], attrs, convOutput);
    const gamma = layerWeight(this.src, bn, 'gamma', [cout]).data;
    const beta = layerWeight(this.src, bn, 'beta', [cout]).data;
    const mean = layerWeight(this.src, bn, 'moving_mean', [cout]).data;
    const variance = layerWeight(this.src, bn, 'moving_variance', [cout]).data;
    if (!this.fold || convOutput) {
      const y = this.g.op('Conv', [x, this.g.f32(`${layer}.w`, wDims, w), this.g.f32(`${layer}.b`, [cout], b)], attrs, convOutput);
      if (this.fold) {
        // Keep the un-normalised conv visible, then apply the BN as a per-channel affine map.
        const s = Float64Array.from(gamma, (gm, c) => gm / Math.sqrt(variance[c]! + BN_EPSILON));
        const shift = Float64Array.from(beta, (bt, c) => bt - mean[c]! * s[c]!);
        return this.mish(this.g.op('Add', [this.g.op('Mul', [y, this.g.f32(`${bn}.s`, [1, cout, 1, 1], s)]), this.g.f32(`${bn}.t`, [1, cout, 1, 1], shift)]));
      }
      const bnOut = this.g.op('BatchNormalization', [
        y, this.g.f32(`${bn}.gamma`, [cout], gamma), this.g.f32(`${bn}.beta`, [cout], beta),
        this.g.f32(`${bn}.mean`, [cout], mean), this.g.f32(`${bn}.var`, [cout], variance),
      ], { epsilon: BN_EPSILON });
      return this.mish(bnOut);
    }
    // Folding: BN(Wx + b) = s (Wx + b - mean) + beta with s = gamma / sqrt(var + eps).
    const perOut = w.length / cout;
    for (let o = 0; o < cout; o++) {
      const s = gamma[o]! / Math.sqrt(variance[o]! + BN_EPSILON);
      for (let k = 0; k < perOut; k++) w[o * perOut + k]! *= s;
      b[o] = (b[o]! - mean[o]!) * s + beta[o]!;
    }
    return this.mish(this.g.op('Conv', [x, this.g.f32(`${layer}.w`, wDims, w), this.g.f32(`${layer}.b`, [cout], b)], attrs));
  }

  /**
   * ln(x·0.005 + 1), standardised per band, then exp(5x − 1) / (exp(5x − 1) + 1), written as
   * sigmoid(5x − 1) (the same value, without inf/inf for large x). Negative inputs, which L1C
   * reflectance never has, are clamped to 0 so that the log stays finite.
   */
  normalise(input: string): string {
    const g = this.g;
    const nonNegative = g.op('Max', [input, g.scalar('zero', 0)]);
    const logged = g.op('Log', [g.op('Add', [g.op('Mul', [nonNegative, g.scalar('dw.gain', 0.005)]), g.scalar('one', 1)])]);
    // 5 (x − c) / s − 1 = x · (5 / s) − (5 c / s + 1).
    const gain = DW_NORM_PERCENTILES.map(([, s]) => 5 / s);
    const shift = DW_NORM_PERCENTILES.map(([c, s]) => (5 * c) / s + 1);
    const z = g.op('Sub', [g.op('Mul', [logged, g.f32('dw.band_gain', [1, 9, 1, 1], gain)]), g.f32('dw.band_shift', [1, 9, 1, 1], shift)]);
    return g.op('Sigmoid', [z]);
  }

  /**
   * TF's antialiased bilinear resize of one axis from n to ⌊n/2⌋ (ScaleAndTranslate, triangle
   * kernel): output o samples at (o + 0.5)/scale with scale = ⌊n/2⌋/n; source pixel i weighs
   * max(0, 1 − |i + 0.5 − sample| / k) with k = max(1/scale, 1); weights are renormalised over the
   * pixels inside the image. Sizes are read from the tensor, so any H and W work.
   */
  halve(x: string, axis: 2 | 3): string {
    const g = this.g;
    const a = `half${axis}`;
    const n = g.op('Gather', [g.op('Shape', [x]), g.i64(`${a}.axis`, [], [axis])], { axis: 0 });
    const nf = g.op('Cast', [n], { to: TensorType.FLOAT });
    const halfN = g.op('Div', [n, g.i64(`${a}.two`, [], [2])]);
    const hf = g.op('Cast', [halfN], { to: TensorType.FLOAT });
    const invScale = g.op('Reciprocal', [g.op('Div', [hf, nf])]);
    const k = g.op('Max', [invScale, g.scalar(`${a}.one`, 1)]);
    const o = g.op('Range', [g.scalar(`${a}.r0`, 0), hf, g.scalar(`${a}.r1`, 1)]);
    const sample = g.op('Mul', [g.op('Add', [o, g.scalar(`${a}.half`, 0.5)]), invScale]);
    const first = g.op('Max', [g.op('Ceil', [g.op('Sub', [g.op('Sub', [sample, k]), g.scalar(`${a}.half2`, 0.5)])]), g.scalar(`${a}.zero`, 0)]);
    const lastIndex = g.op('Sub', [nf, g.scalar(`${a}.one2`, 1)]);
    const taps: Array<{ index: string; weight: string }> = [];
    for (let t = 0; t < DOWNSCALE_TAPS; t++) {
      const i = g.op('Add', [first, g.scalar(`${a}.t${t}`, t)]);
      const dist = g.op('Abs', [g.op('Sub', [g.op('Add', [i, g.scalar(`${a}.c${t}`, 0.5)]), sample])]);
      const tri = g.op('Relu', [g.op('Sub', [g.scalar(`${a}.u${t}`, 1), g.op('Div', [dist, k])])]);
      // Taps past the last pixel weigh nothing; their index is clamped only to keep Gather legal.
      const inside = g.op('Cast', [g.op('LessOrEqual', [i, lastIndex])], { to: TensorType.FLOAT });
      taps.push({ index: g.op('Cast', [g.op('Min', [i, lastIndex])], { to: TensorType.INT64 }), weight: g.op('Mul', [tri, inside]) });
    }
    const total = taps.map((t) => t.weight).reduce((s, w) => g.op('Add', [s, w]));
    // Along H the weights index rows: shape [⌊H/2⌋, 1] to broadcast over W.
    const column = axis === 2 ? g.i64(`${a}.col`, [2], [-1, 1]) : null;
    const terms = taps.map(({ index, weight }) => {
      let w = g.op('Div', [weight, total]);
      if (column) w = g.op('Reshape', [w, column]);
      return g.op('Mul', [g.op('Gather', [x, index], { axis }), w]);
    });
    return terms.reduce((s, t) => g.op('Add', [s, t]));
  }

  /** conv 1x1 → depthwise 3x3 → ... pairs, each with BN and mish. */
  chain(x: string, pairs: Array<[string, string, string, string]>): string {
    let y = x;
    for (const [conv, convBn, dw, dwBn] of pairs) y = this.conv(this.conv(y, conv, convBn, 'conv'), dw, dwBn, 'depthwise');
    return y;
  }

  /** A chain of conv/depthwise pairs plus a 1x1 conv shortcut of the same input, added. */
  residual(x: string, pairs: Array<[string, string, string, string]>, [shortcut, shortcutBn]: [string, string]): string {
    return this.g.op('Add', [this.chain(x, pairs), this.conv(x, shortcut, shortcutBn, 'conv')]);
  }

  build(opts: BuildOptions): { outputs: string[] } {
    const g = this.g;
    const x = this.normalise('input');
    const first = this.conv(x, 'conv2d', 'batch_normalization', 'conv', opts.firstConvOutput ? 'first_conv' : undefined);
    const half = this.halve(this.halve(first, 3), 2);

    // Branch A: 64 → 48.
    const a = this.chain(half, [['conv2d_1', 'batch_normalization_1', 'depthwise_conv2d', 'batch_normalization_2']]);
    // Branch B: two residual blocks, 96 then 144 channels.
    const b1 = this.residual(half, [
      ['conv2d_2', 'batch_normalization_3', 'depthwise_conv2d_1', 'batch_normalization_4'],
      ['conv2d_3', 'batch_normalization_5', 'depthwise_conv2d_2', 'batch_normalization_6'],
      ['conv2d_4', 'batch_normalization_7', 'depthwise_conv2d_3', 'batch_normalization_8'],
    ], ['conv2d_5', 'batch_normalization_9']);
    const b2 = this.residual(b1, [
      ['conv2d_6', 'batch_normalization_10', 'depthwise_conv2d_4', 'batch_normalization_11'],
      ['conv2d_7', 'batch_normalization_12', 'depthwise_conv2d_5', 'batch_normalization_13'],
      ['conv2d_8', 'batch_normalization_14', 'depthwise_conv2d_6', 'batch_normalization_15'],
    ], ['conv2d_9', 'batch_normalization_16']);
    // Then both branches together: [B, A], 192 channels → 144.
    const joined = g.op('Concat', [b2, a], { axis: 1 });
    const c = this.residual(joined, [
      ['conv2d_10', 'batch_normalization_17', 'depthwise_conv2d_7', 'batch_normalization_18'],
      ['conv2d_11', 'batch_normalization_19', 'depthwise_conv2d_8', 'batch_normalization_20'],
      ['conv2d_12', 'batch_normalization_21', 'depthwise_conv2d_9', 'batch_normalization_22'],
    ], ['conv2d_13', 'batch_normalization_23']);

    // Head, in TF: r = bilinear resize of c to (H, W) with half-pixel centres (= ONNX Resize
    // linear/half_pixel); logits = W·(r / ‖r‖) + b (tf.math.l2_normalize: rsqrt(max(Σr², 1e-12))).
    // Resize and the 1x1 conv are both linear, so W·r = resize(W·c): the conv runs at half
    // resolution, and the 144-channel full-size tensor is needed only for its norm. That saves a
    // 144-channel division and conv at full size (and ~150 MB per 512 px tile).
    const sizes = (x: string, name: string) => g.op('Concat', [
      g.op('Slice', [g.op('Shape', [x]), g.i64('up.s0', [1], [0]), g.i64('up.s2', [1], [2])]),
      g.op('Slice', [g.op('Shape', ['input']), g.i64('up.s2b', [1], [2]), g.i64('up.s4', [1], [4])]),
    ], { axis: 0 }, name);
    const upsample = (x: string, name: string) => g.op('Resize', [x, '', '', sizes(x, `${name}.sizes`)], { mode: 'linear', coordinate_transformation_mode: 'half_pixel' }, name);
    const sumSq = g.op('ReduceSumSquare', [upsample(c, 'embedding_unnormalised')], { axes: [1], keepdims: 1 });
    const norm = g.op('Sqrt', [g.op('Max', [sumSq, g.scalar('l2.eps', L2_EPSILON)])]);
    const head = layerWeight(this.src, 'conv2d_14', 'kernel', [1, 1, 144, DW_CLASSES.length]);
    const headBias = layerWeight(this.src, 'conv2d_14', 'bias', [DW_CLASSES.length]);
    const projected = g.op('Conv', [c, g.f32('conv2d_14.w', [DW_CLASSES.length, 144, 1, 1], hwioToOihw(head.data, 1, 1, 144, DW_CLASSES.length))], { kernel_shape: [1, 1] });
    const logits = g.op('Add', [
      g.op('Div', [upsample(projected, 'projected_up'), norm]),
      g.f32('conv2d_14.b', [1, DW_CLASSES.length, 1, 1], headBias.data),
    ], undefined, opts.output === 'logits' ? 'logits' : undefined);
    const outputs = [opts.output === 'logits' ? logits : g.op('Softmax', [logits], { axis: 1 }, 'output')];
    if (opts.firstConvOutput) outputs.push('first_conv');
    return { outputs };
  }
}

export function buildDynamicWorld(source: DynamicWorldSource | string = defaultSourceDir, options: BuildOptions = {}): Uint8Array {
  const src = typeof source === 'string' ? loadDynamicWorldSource(source) : source;
  const dw = new DynamicWorldGraph(src, options.foldBatchNorm ?? true);
  const { outputs } = dw.build(options);
  const overlapPx = Math.round((TILE_SIZE * TILES_OVERLAP_PERCENT) / 100);
  return writeOnnxModel({
    name: 'dynamic-world',
    nodes: dw.g.nodes,
    initializers: dw.g.initializers,
    opset: 17,
    inputs: [{ name: 'input', elemType: TensorType.FLOAT, shape: ['N', 9, 'H', 'W'] }],
    outputs: outputs.map((name) => ({ name, elemType: TensorType.FLOAT, shape: ['N', name === 'first_conv' ? 64 : 9, 'H', 'W'] })),
    metadata: {
      model_type: '"Segmentor"',
      class_names: JSON.stringify(Object.fromEntries(DW_CLASSES.map((c, i) => [String(i), c]))),
      class_colors: JSON.stringify(DW_COLORS),
      resolution: '1000',
      tile_size: String(TILE_SIZE),
      tiles_overlap: String(TILES_OVERLAP_PERCENT),
      // The graph normalises raw reflectance itself.
      input_scale: '1',
      standardization_mean: JSON.stringify(Array(9).fill(0)),
      standardization_std: JSON.stringify(Array(9).fill(1)),
      // The network halves the resolution: a tile cut at an odd pixel sees the scene on another
      // sampling grid, which changes ~8 % of labels.
      input_alignment: '2',
      bands: JSON.stringify({
        names: DW_BANDS,
        sensors: {
          'sentinel2-l1c': DW_BANDS,
          'sentinel2-l1c-13': [2, 3, 4, 5, 6, 7, 8, 12, 13],
          'sentinel2-l1c-9': [1, 2, 3, 4, 5, 6, 7, 8, 9],
        },
        by_band_count: { 13: 'sentinel2-l1c-13', 9: 'sentinel2-l1c-9' },
      }),
      description: `Google Dynamic World land cover (9 classes) from Sentinel-2 L1C TOA reflectance x 1e4, bands ${DW_BANDS.join(',')} at 10 m; ported from the published TensorFlow model.`,
      license: 'Apache-2.0',
      source: 'github.com/google/dynamicworld @ 0dd288fae5fb5291d988e5ea3c12eb91df481ec5, model/forward',
    },
    docString: `satseg dynamic-world: Google Dynamic World forward model (Apache-2.0), ${overlapPx} px tile overlap; see models/dynamic-world/README.md`,
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = path.join(path.dirname(fileURLToPath(import.meta.url)), 'model.onnx');
  const tmp = `${out}.tmp`;
  fs.writeFileSync(tmp, buildDynamicWorld(process.argv[2] ?? defaultSourceDir));
  fs.renameSync(tmp, out);
  console.log(`wrote ${out} (${fs.statSync(out).size} bytes)`);
}
