/**
 * An independent forward pass of Dynamic World, to check the ONNX port against.
 *
 * It shares nothing with build-model.ts but the tensor reader: it interprets the Keras functional
 * config (layers and their wiring, as published in forward_keras_config.json) layer by layer, in
 * NHWC float64 with plain loops over the unfolded checkpoint weights, following TensorFlow's
 * documented op semantics:
 * - Conv2D / DepthwiseConv2D: HWIO / [kh, kw, C, 1] kernels, SAME padding = floor((k-1)/2) before;
 * - BatchNormalization (inference): (x - mean) / sqrt(var + eps) * gamma + beta;
 * - tf.image.resize(antialias=True): ScaleAndTranslate with the triangle kernel, spans computed as
 *   in tensorflow/core/kernels/image/scale_and_translate_op.cc (ComputeSpansCore), float32 where TF
 *   uses float32;
 * - tf.image.resize (bilinear, TF2): ResizeBilinear with half_pixel_centers, as in
 *   tensorflow/core/kernels/image/resize_bilinear_op.cc (compute_interpolation_weights);
 * - tf.math.l2_normalize: x * rsqrt(max(sum(x^2), 1e-12)).
 * Slow (seconds for 100x100) and meant for small crops in tests.
 */
import type { DynamicWorldSource, KerasLayer } from './keras-source.ts';
import { DW_NORM_PERCENTILES } from './build-model.ts';

/** An NHWC tensor with N = 1. */
export interface Hwc {
  h: number;
  w: number;
  c: number;
  data: Float64Array;
}

type Value = Hwc | { ints: number[] } | { floats: number[] };

const f32 = Math.fround;

/** The notebook's normalisation of raw TOA reflectance x 1e4, per band, literally. */
export function normaliseReference(raw: Hwc): Hwc {
  if (raw.c !== DW_NORM_PERCENTILES.length) throw new Error(`expected ${DW_NORM_PERCENTILES.length} bands, got ${raw.c}`);
  const data = new Float64Array(raw.data.length);
  for (let i = 0; i < data.length; i++) {
    const [centre, scale] = DW_NORM_PERCENTILES[i % raw.c]!;
    let x = Math.log(raw.data[i]! * 0.005 + 1);
    x = (x - centre) / scale;
    x = Math.exp(5 * x - 1);
    data[i] = x / (x + 1);
  }
  return { ...raw, data };
}

function isHwc(v: Value): v is Hwc {
  return (v as Hwc).data !== undefined;
}

function tuple(v: unknown): number[] {
  const items = (v as { items?: number[] })?.items ?? v;
  if (!Array.isArray(items)) throw new Error(`expected a tuple, got ${JSON.stringify(v)}`);
  return items as number[];
}

function expectConfig(layer: KerasLayer, key: string, want: unknown): void {
  const got = key === 'strides' || key === 'dilation_rate' ? tuple(layer.config[key]) : layer.config[key];
  if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(`${layer.name}: ${key} is ${JSON.stringify(got)}; the reference supports only ${JSON.stringify(want)}`);
}

function conv2d(x: Hwc, kernel: { shape: number[]; data: Float32Array }, bias: Float32Array | null, padding: string, depthwise: boolean): Hwc {
  const [kh, kw, cin, m] = kernel.shape as [number, number, number, number];
  if (cin !== x.c) throw new Error(`conv expects ${cin} channels, got ${x.c}`);
  const cout = depthwise ? cin * m : m;
  // Stride 1: SAME pads floor((k-1)/2) before and the rest after; VALID shrinks the output.
  const padY = padding === 'same' ? Math.floor((kh - 1) / 2) : 0;
  const padX = padding === 'same' ? Math.floor((kw - 1) / 2) : 0;
  const oh = padding === 'same' ? x.h : x.h - kh + 1;
  const ow = padding === 'same' ? x.w : x.w - kw + 1;
  const out = new Float64Array(oh * ow * cout);
  const k = kernel.data;
  const acc = new Float64Array(cout);
  for (let oy = 0; oy < oh; oy++) {
    for (let ox = 0; ox < ow; ox++) {
      for (let o = 0; o < cout; o++) acc[o] = bias ? bias[o]! : 0;
      for (let dy = 0; dy < kh; dy++) {
        const iy = oy + dy - padY;
        if (iy < 0 || iy >= x.h) continue;
        for (let dx = 0; dx < kw; dx++) {
          const ix = ox + dx - padX;
          if (ix < 0 || ix >= x.w) continue;
          const src = (iy * x.w + ix) * x.c;
          const kBase = (dy * kw + dx) * cin * m;
          if (depthwise) {
            for (let ci = 0; ci < cin; ci++) acc[ci]! += x.data[src + ci]! * k[kBase + ci]!;
          } else {
            for (let ci = 0; ci < cin; ci++) {
              const v = x.data[src + ci]!;
              const row = kBase + ci * cout;
              for (let o = 0; o < cout; o++) acc[o]! += v * k[row + o]!;
            }
          }
        }
      }
      out.set(acc, (oy * ow + ox) * cout);
    }
  }
  return { h: oh, w: ow, c: cout, data: out };
}

/** Separable resampling: out[o] = sum_j weights[o][j] * in[starts[o] + j], along one axis. */
interface Spans {
  starts: number[];
  weights: number[][];
}

function resampleAxis(x: Hwc, spans: Spans, axis: 'h' | 'w'): Hwc {
  const outH = axis === 'h' ? spans.starts.length : x.h;
  const outW = axis === 'w' ? spans.starts.length : x.w;
  const out = new Float64Array(outH * outW * x.c);
  for (let y = 0; y < outH; y++) {
    for (let xx = 0; xx < outW; xx++) {
      const o = axis === 'h' ? y : xx;
      const dst = (y * outW + xx) * x.c;
      spans.weights[o]!.forEach((wgt, j) => {
        const s = spans.starts[o]! + j;
        const src = axis === 'h' ? (s * x.w + xx) * x.c : (y * x.w + s) * x.c;
        for (let c = 0; c < x.c; c++) out[dst + c]! += wgt * x.data[src + c]!;
      });
    }
  }
  return { h: outH, w: outW, c: x.c, data: out };
}

/** ComputeSpansCore of TF's ScaleAndTranslate for the triangle kernel (radius 1), translate 0. */
export function scaleAndTranslateSpans(outSize: number, inSize: number, antialias: boolean): Spans {
  const radius = 1;
  const triangle = (d: number) => (d < 1 ? 1 - d : 0);
  const scale = f32(f32(outSize) / f32(inSize));
  const invScale = f32(1 / scale);
  const kernelScale = antialias ? Math.max(invScale, 1) : 1;
  const oneOverKernelScale = f32(1 / kernelScale);
  const starts: number[] = [];
  const weights: number[][] = [];
  for (let x = 0; x < outSize; x++) {
    const sample = f32(f32(x + 0.5) * invScale);
    if (sample < 0 || sample > inSize) {
      starts.push(0);
      weights.push([]);
      continue;
    }
    let spanStart = Math.ceil(f32(f32(sample - f32(radius * kernelScale)) - 0.5));
    let spanEnd = Math.floor(f32(f32(sample + f32(radius * kernelScale)) - 0.5));
    spanStart = Math.min(Math.max(spanStart, 0), inSize - 1);
    spanEnd = Math.min(Math.max(spanEnd, 0), inSize - 1) + 1;
    const raw: number[] = [];
    let total = 0;
    for (let s = spanStart; s < spanEnd; s++) {
      const pos = f32(f32(s + 0.5) - sample);
      const w = triangle(Math.abs(f32(pos * oneOverKernelScale)));
      raw.push(w);
      total += w;
    }
    starts.push(spanStart);
    weights.push(Math.abs(total) >= 1000 * 1.1754943508222875e-38 ? raw.map((w) => w / total) : raw.map(() => 0));
  }
  return { starts, weights };
}

/** ResizeBilinear's interpolation with half_pixel_centers, as two-tap spans. */
export function halfPixelBilinearSpans(outSize: number, inSize: number): Spans {
  const scale = f32(inSize / outSize);
  const starts: number[] = [];
  const weights: number[][] = [];
  for (let i = 0; i < outSize; i++) {
    const inPos = f32(f32(f32(i + 0.5) * scale) - 0.5);
    const lower = Math.max(Math.floor(inPos), 0);
    const upper = Math.min(Math.ceil(inPos), inSize - 1);
    const lerp = f32(inPos - Math.floor(inPos));
    starts.push(lower);
    // lower + (upper - lower) * lerp, as weights on [lower, upper] (equal when clamped).
    weights.push(upper === lower ? [1] : [1 - lerp, lerp]);
  }
  return { starts, weights };
}

function elementwise(a: Value, b: Value, f: (x: number, y: number) => number): Hwc {
  if (!isHwc(a) || !isHwc(b) || a.data.length !== b.data.length) throw new Error('elementwise op on mismatched tensors');
  return { ...a, data: a.data.map((v, i) => f(v, b.data[i]!)) };
}

function softplus(x: number): number {
  return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
}

type Ref = [string, number, number, Record<string, unknown>?];

function isRef(v: unknown): v is Ref {
  return Array.isArray(v) && typeof v[0] === 'string' && typeof v[1] === 'number';
}

export interface ReferenceOptions {
  /** Stop after this layer and return its output (for example `conv2d`). */
  until?: string;
}

/**
 * Run the Keras model on one NHWC image of raw reflectance (or of already-normalised values when
 * `normalised` is true). Returns the logits (the first model output), or layer `until`'s output.
 */
export function referenceForward(source: DynamicWorldSource, input: Hwc, options: ReferenceOptions & { normalised?: boolean } = {}): Hwc {
  const model = source.model;
  const values = new Map<string, Value>();
  const x0 = options.normalised ? input : normaliseReference(input);
  const get = (ref: unknown): Value => {
    if (!isRef(ref)) throw new Error(`expected a layer reference, got ${JSON.stringify(ref)}`);
    const v = values.get(ref[0]);
    if (!v) throw new Error(`layer ${ref[0]} used before it was computed`);
    return v;
  };
  const tensor = (ref: unknown): Hwc => {
    const v = get(ref);
    if (!isHwc(v)) throw new Error(`${JSON.stringify(ref)} is not an image tensor`);
    return v;
  };
  const weight = (layer: string, name: string) => {
    const t = source.weights.get(layer)?.[name];
    if (!t) throw new Error(`no weight ${layer}/${name}`);
    return t;
  };

  for (const layer of model.layers) {
    const cfg = layer.config;
    let out: Value;
    if (layer.className === 'InputLayer') {
      out = x0;
    } else {
      // Keras layers: [[[name, 0, 0, kwargs], ...]]; TF op lambdas: [[name, 0, 0, kwargs]] or, with a
      // list argument (concat), [[[name, 0, 0, kwargs], ...]].
      const call = layer.inboundNodes[0] as unknown[];
      const args: Ref[] = isRef(call) ? [call] : (call as Ref[]);
      const kwargs = (args[0]![3] ?? {}) as Record<string, unknown>;
      switch (layer.className) {
        case 'Conv2D':
        case 'DepthwiseConv2D': {
          const depthwise = layer.className === 'DepthwiseConv2D';
          expectConfig(layer, 'strides', [1, 1]);
          expectConfig(layer, 'dilation_rate', [1, 1]);
          expectConfig(layer, 'activation', 'linear');
          expectConfig(layer, 'data_format', 'channels_last');
          if (depthwise) expectConfig(layer, 'depth_multiplier', 1);
          else expectConfig(layer, 'groups', 1);
          const kernel = weight(layer.name, depthwise ? 'depthwise_kernel' : 'kernel');
          const bias = cfg.use_bias ? weight(layer.name, 'bias').data : null;
          out = conv2d(tensor(args[0]), kernel, bias, String(cfg.padding), depthwise);
          break;
        }
        case 'BatchNormalization': {
          expectConfig(layer, 'axis', [3]);
          const x = tensor(args[0]);
          const eps = Number(cfg.epsilon);
          const gamma = cfg.scale === false ? null : weight(layer.name, 'gamma').data;
          const beta = cfg.center === false ? null : weight(layer.name, 'beta').data;
          const mean = weight(layer.name, 'moving_mean').data;
          const variance = weight(layer.name, 'moving_variance').data;
          const data = x.data.map((v, i) => {
            const c = i % x.c;
            return ((v - mean[c]!) / Math.sqrt(variance[c]! + eps)) * (gamma ? gamma[c]! : 1) + (beta ? beta[c]! : 0);
          });
          out = { ...x, data };
          break;
        }
        case 'TFOpLambda':
        case 'SlicingOpLambda':
          out = lambda(String(cfg.function), args, kwargs, get, tensor);
          break;
        default:
          throw new Error(`layer ${layer.name}: ${layer.className} is not supported by the reference`);
      }
    }
    values.set(layer.name, out);
    if (options.until === layer.name) {
      if (!isHwc(out)) throw new Error(`${layer.name} is not an image tensor`);
      return out;
    }
  }
  const logits = values.get(model.outputLayers[0]![0]);
  if (!logits || !isHwc(logits)) throw new Error('the model has no image output');
  return logits;
}

function lambda(fn: string, args: Ref[], kwargs: Record<string, unknown>, get: (r: unknown) => Value, tensor: (r: unknown) => Hwc): Value {
  const operand = (v: unknown): Value | number => (isRef(v) ? get(v) : (v as number));
  switch (fn) {
    case 'math.softplus': {
      const x = tensor(args[0]);
      return { ...x, data: x.data.map(softplus) };
    }
    case 'math.tanh': {
      const x = tensor(args[0]);
      return { ...x, data: x.data.map(Math.tanh) };
    }
    case 'math.multiply':
      return elementwise(get(args[0]), operand(kwargs.y) as Value, (a, b) => a * b);
    case '__operators__.add':
      return elementwise(get(args[0]), operand(kwargs.y) as Value, (a, b) => a + b);
    case 'compat.v1.shape': {
      const x = tensor(args[0]);
      return { ints: [1, x.h, x.w, x.c] };
    }
    case '__operators__.getitem': {
      const v = get(args[0]) as { ints?: number[] };
      const spec = kwargs.slice_spec as { start: number; stop: number; step: number | null };
      if (!v.ints || (spec.step !== null && spec.step !== 1)) throw new Error('getitem: only [start:stop] of a shape is supported');
      return { ints: v.ints.slice(spec.start, spec.stop) };
    }
    case 'math.truediv': {
      // Python 3 division of int32 values gives floats.
      const v = get(args[0]) as { ints?: number[] };
      if (!v.ints || typeof kwargs.y !== 'number') throw new Error('truediv: only shape / number is supported');
      return { floats: v.ints.map((i) => i / (kwargs.y as number)) };
    }
    case 'cast': {
      const v = get(args[0]) as { floats?: number[] };
      if (!v.floats || kwargs.dtype !== 'int32') throw new Error('cast: only float → int32 is supported');
      return { ints: v.floats.map(Math.trunc) };
    }
    case 'image.resize': {
      const x = tensor(args[0]);
      const size = (get(kwargs.size) as { ints?: number[] }).ints;
      if (!size || size.length !== 2) throw new Error('image.resize: size must be two integers');
      const method = String(kwargs.method ?? 'bilinear');
      if (method !== 'bilinear') throw new Error(`image.resize: method ${method} is not supported`);
      const [oh, ow] = size as [number, number];
      if (kwargs.antialias === true) {
        return resampleAxis(resampleAxis(x, scaleAndTranslateSpans(oh, x.h, true), 'h'), scaleAndTranslateSpans(ow, x.w, true), 'w');
      }
      return resampleAxis(resampleAxis(x, halfPixelBilinearSpans(oh, x.h), 'h'), halfPixelBilinearSpans(ow, x.w), 'w');
    }
    case 'concat': {
      if (kwargs.axis !== -1 && kwargs.axis !== 3) throw new Error('concat: only the channel axis is supported');
      const parts = args.map((a) => tensor(a));
      const c = parts.reduce((s, p) => s + p.c, 0);
      const { h, w } = parts[0]!;
      const data = new Float64Array(h * w * c);
      for (let p = 0; p < h * w; p++) {
        let o = p * c;
        for (const part of parts) {
          data.set(part.data.subarray(p * part.c, (p + 1) * part.c), o);
          o += part.c;
        }
      }
      return { h, w, c, data };
    }
    case 'math.l2_normalize': {
      if (kwargs.axis !== -1 && kwargs.axis !== 3) throw new Error('l2_normalize: only the channel axis is supported');
      const x = tensor(args[0]);
      const data = new Float64Array(x.data.length);
      for (let p = 0; p < x.h * x.w; p++) {
        let sum = 0;
        for (let c = 0; c < x.c; c++) sum += x.data[p * x.c + c]! ** 2;
        const inv = 1 / Math.sqrt(Math.max(sum, 1e-12));
        for (let c = 0; c < x.c; c++) data[p * x.c + c] = x.data[p * x.c + c]! * inv;
      }
      return { ...x, data };
    }
    default:
      throw new Error(`TF op ${fn} is not supported by the reference`);
  }
}
