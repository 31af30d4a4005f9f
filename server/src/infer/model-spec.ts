/**
 * A model's contract, read once from its ONNX `metadata_props` and validated here, at the edge.
 *
 * Keys follow QGIS Deepness (model_type, class_names, resolution, tiles_overlap, tile_size,
 * standardization_mean, standardization_std) so its users can bring their models; we add
 * class_colors, bands, input_scale and input_alignment. Deepness stores values as JSON
 * (`"Segmentor"`, `{"0": "water"}`), and sometimes as Python literals; plain strings are accepted too.
 */
import { z } from 'zod';
import type { OnnxSummary } from './onnx-proto.ts';
import { ModelMetadataError } from '../errors.ts';

/** Which scene bands a model wants: names, and optionally the bands to use per sensor. */
export interface BandRequirement {
  names: string[];
  /**
   * sensor id → one entry per input channel: a 1-based band index in that sensor's usual file
   * order, or a band description to look up (for example "B8" for Sentinel-2).
   */
  sensors: Record<string, Array<number | string>>;
  /** Band count → sensor to assume when nothing else identifies the scene. */
  byBandCount: Record<string, string>;
}

export interface ModelSpec {
  id: string;
  path: string;
  description: string;
  license: string | null;
  classNames: string[];
  classColors: string[];
  /** Ground resolution the model was trained at, cm per pixel. */
  resolutionCm: number | null;
  /**
   * Pixels each output pixel depends on, across (`receptive_field`; null when not declared). 1 is
   * a per-pixel model (spectral indices): the shape of its pixels on the ground does not matter.
   */
  receptiveField: number | null;
  tileSize: number;
  /** True when the ONNX input has fixed height and width (tiles must be exactly that size). */
  fixedTileSize: boolean;
  overlapPercent: number;
  /**
   * Tile origins must be multiples of this many scene pixels (1 = anywhere). A network that
   * downsamples by 2 sees another sampling grid when a tile starts at an odd pixel.
   */
  inputAlignment: number;
  inputScale: number;
  mean: number[];
  std: number[];
  bands: BandRequirement;
  inputChannels: number;
  inputName: string;
  outputName: string;
  /** Number of output channels; 1 means a sigmoid foreground probability. */
  outputChannels: number;
  metadata: Record<string, string>;
}

const DEFAULT_TILE = 512;
const DEFAULT_OVERLAP_PERCENT = 12.5;
/** Colours for models that bring none (Tableau 10). */
const DEFAULT_COLORS = ['#4E79A7', '#F28E2B', '#E15759', '#76B7B2', '#59A14F', '#EDC948', '#B07AA1', '#FF9DA7', '#9C755F', '#BAB0AC'];

/** "#RRGGBB" → [r, g, b]. */
export function hexToRgb(hex: string): [number, number, number] {
  const v = parseInt(hex.replace('#', ''), 16);
  return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
}

/** JSON first, then Python literal syntax (single quotes, bare int keys), then the raw string. */
export function parseMetadataValue(raw: string): unknown {
  const text = raw.trim();
  try {
    return JSON.parse(text);
  } catch {
    // fall through
  }
  if (/^[[{(]/.test(text)) {
    const pythonish = text
      .replace(/'/g, '"')
      .replace(/([{,]\s*)(-?\d+)\s*:/g, '$1"$2":')
      .replace(/\bTrue\b/g, 'true').replace(/\bFalse\b/g, 'false').replace(/\bNone\b/g, 'null')
      .replace(/^\((.*)\)$/s, '[$1]');
    try {
      return JSON.parse(pythonish);
    } catch {
      // fall through
    }
  }
  return text;
}

const hexColor = z.string().regex(/^#?[0-9a-fA-F]{6}$/, 'must be a hex colour like "#3C1098"').transform((c) => (c.startsWith('#') ? c : `#${c}`).toUpperCase());
const rgbTriple = z.array(z.number().int().min(0).max(255)).length(3).transform((c) => `#${c.map((v) => v.toString(16).padStart(2, '0')).join('')}`.toUpperCase());
const positiveNumber = z.coerce.number().refine((v) => Number.isFinite(v) && v > 0, 'must be a positive number');

const classNamesList = z.array(z.string().min(1)).min(1);
const classNamesDict = z.record(z.string().regex(/^\d+$/, 'keys must be class ids 0..n-1'), z.string().min(1)).transform((rec, ctx) => {
  const ids = Object.keys(rec).map(Number).sort((a, b) => a - b);
  if (ids.some((id, i) => id !== i)) {
    ctx.addIssue({ code: 'custom', message: 'class ids must be consecutive from 0' });
    return z.NEVER;
  }
  return ids.map((id) => rec[String(id)]!);
});
// A list or a {"0": name} dict; picking the branch by shape keeps the error message specific.
const classNamesSchema = z.any().transform((v, ctx) => {
  const r = Array.isArray(v) ? classNamesList.safeParse(v) : classNamesDict.safeParse(v);
  if (!r.success) {
    ctx.addIssue({ code: 'custom', message: r.error.issues[0]?.message ?? 'expected a list of names or {"0": "name", ...}' });
    return z.NEVER;
  }
  return r.data;
});

const bandsSchema = z.union([
  z.array(z.string().min(1)).min(1).transform((names) => ({ names, sensors: {}, byBandCount: {} })),
  z.object({
    names: z.array(z.string().min(1)).min(1),
    sensors: z.record(z.string(), z.array(z.union([z.number().int().min(1), z.string().min(1)]))).default({}),
    by_band_count: z.record(z.string().regex(/^\d+$/), z.string()).default({}),
  }).transform((b) => ({ names: b.names, sensors: b.sensors, byBandCount: b.by_band_count })),
]);

const inputScaleSchema = z.union([
  z.number(),
  z.string().regex(/^\s*[\d.eE+-]+\s*(\/\s*[\d.eE+-]+\s*)?$/, 'must be a number or a fraction like "1/255"').transform((s) => {
    const [a, b] = s.split('/').map(Number);
    return b === undefined ? a! : a! / b;
  }),
]).refine((v) => Number.isFinite(v) && v > 0, 'must be a positive number');

function parseKey<T>(modelId: string, metadata: Record<string, string>, key: string, schema: z.ZodType<T>): T | undefined {
  if (!(key in metadata)) return undefined;
  const result = schema.safeParse(parseMetadataValue(metadata[key]!));
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new ModelMetadataError(modelId, key, `is invalid: ${issue?.message ?? 'bad value'} (got ${JSON.stringify(metadata[key]).slice(0, 80)})`);
  }
  return result.data;
}

/** Build a ModelSpec from an ONNX summary; throws ModelMetadataError naming the offending key. */
export function modelSpecFromOnnx(id: string, path: string, onnx: OnnxSummary): ModelSpec {
  const meta = onnx.metadata;
  const modelType = parseKey(id, meta, 'model_type', z.string());
  if (modelType === undefined) throw new ModelMetadataError(id, 'model_type', 'is missing (expected "segmentor")');
  if (modelType.toLowerCase() !== 'segmentor') {
    throw new ModelMetadataError(id, 'model_type', `is "${modelType}"; only segmentor models are supported`);
  }
  const classNames = parseKey(id, meta, 'class_names', classNamesSchema) ?? parseKey(id, meta, 'names', classNamesSchema);
  if (!classNames) throw new ModelMetadataError(id, 'class_names', 'is missing (expected a JSON list or {"0": "name", ...})');

  if (onnx.inputs.length !== 1) throw new ModelMetadataError(id, 'input', `the graph must have exactly one input (it has ${onnx.inputs.length})`);
  const input = onnx.inputs[0]!;
  const output = onnx.outputs[0];
  if (!output) throw new ModelMetadataError(id, 'output', 'the graph has no output');
  const shape = input.shape ?? ['N', 'C', 'H', 'W'];
  if (shape.length !== 4) throw new ModelMetadataError(id, 'input', `input shape must be [N, C, H, W] (got [${shape.join(', ')}])`);
  const channels = shape[1];
  if (typeof channels !== 'number') throw new ModelMetadataError(id, 'input', 'the number of input channels must be fixed in the ONNX input shape');
  const fixedH = typeof shape[2] === 'number' ? shape[2] : null;
  const fixedW = typeof shape[3] === 'number' ? shape[3] : null;
  if (fixedH !== null && fixedH !== fixedW) throw new ModelMetadataError(id, 'input', `non-square fixed input ${fixedH}x${fixedW} is not supported`);

  const outShape = output.shape;
  const outputChannels = outShape && typeof outShape[1] === 'number' ? outShape[1] : classNames.length;
  if (outputChannels !== classNames.length && !(outputChannels === 1 && classNames.length === 2)) {
    throw new ModelMetadataError(id, 'class_names', `lists ${classNames.length} classes but the model outputs ${outputChannels} channels`);
  }

  const colors = parseKey(id, meta, 'class_colors', z.array(z.union([hexColor, rgbTriple])));
  if (colors && colors.length !== classNames.length) {
    throw new ModelMetadataError(id, 'class_colors', `has ${colors.length} colours for ${classNames.length} classes`);
  }
  const tileFromMeta = parseKey(id, meta, 'tile_size', z.coerce.number().int().min(16).max(8192)) ?? parseKey(id, meta, 'tiles_size', z.coerce.number().int().min(16).max(8192));
  const overlap = parseKey(id, meta, 'tiles_overlap', z.coerce.number().min(0).max(90)) ?? DEFAULT_OVERLAP_PERCENT;
  const alignment = parseKey(id, meta, 'input_alignment', z.coerce.number().int('must be a whole number of pixels').positive('must be at least 1')) ?? 1;
  const tileSize = fixedH ?? tileFromMeta ?? DEFAULT_TILE;
  if (alignment > tileSize) throw new ModelMetadataError(id, 'input_alignment', `is ${alignment} px, more than the ${tileSize} px tile`);
  const mean = parseKey(id, meta, 'standardization_mean', z.array(z.number()).min(1)) ?? Array(channels).fill(0);
  const std = parseKey(id, meta, 'standardization_std', z.array(z.number().refine((v) => v !== 0, 'must not be 0')).min(1)) ?? Array(channels).fill(1);
  for (const [key, list] of [['standardization_mean', mean], ['standardization_std', std]] as const) {
    if (list.length !== channels && list.length !== 1) throw new ModelMetadataError(id, key, `has ${list.length} values for ${channels} input channels`);
  }
  const bands = parseKey(id, meta, 'bands', bandsSchema) ?? { names: [], sensors: {}, byBandCount: {} };
  if (bands.names.length && bands.names.length !== channels) {
    throw new ModelMetadataError(id, 'bands', `names ${bands.names.length} bands but the model takes ${channels} input channels`);
  }
  for (const [sensor, idx] of Object.entries(bands.sensors) as Array<[string, unknown[]]>) {
    if (idx.length !== channels) throw new ModelMetadataError(id, 'bands', `maps sensor ${sensor} to ${idx.length} bands but the model takes ${channels}`);
  }
  for (const [count, sensor] of Object.entries(bands.byBandCount) as Array<[string, string]>) {
    if (!(bands.sensors as Record<string, unknown>)[sensor]) throw new ModelMetadataError(id, 'bands', `by_band_count ${count} names sensor "${sensor}", which has no mapping`);
  }

  return {
    id,
    path,
    description: typeof meta.description === 'string' ? String(parseMetadataValue(meta.description)) : '',
    license: meta.license ? String(parseMetadataValue(meta.license)) : null,
    classNames,
    classColors: colors ?? classNames.map((_, i) => DEFAULT_COLORS[i % DEFAULT_COLORS.length]!),
    resolutionCm: parseKey(id, meta, 'resolution', positiveNumber) ?? null,
    receptiveField: parseKey(id, meta, 'receptive_field', z.coerce.number().int('must be a whole number of pixels').positive('must be at least 1')) ?? null,
    tileSize,
    fixedTileSize: fixedH !== null,
    overlapPercent: overlap,
    inputAlignment: alignment,
    inputScale: parseKey(id, meta, 'input_scale', inputScaleSchema) ?? 1 / 255,
    mean: mean.length === 1 ? Array(channels).fill(mean[0]) : mean,
    std: std.length === 1 ? Array(channels).fill(std[0]) : std,
    bands,
    inputChannels: channels,
    inputName: input.name,
    outputName: output.name,
    outputChannels,
    metadata: meta,
  };
}
