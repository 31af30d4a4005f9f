/**
 * Whether a model suits a scene, before anything runs: the scene must have the model's bands, and
 * be fine enough for it. Offering every model for every scene invites results that look like maps
 * and mean nothing (an RGB land-cover net on radar, a 1 m net on 5 m pixels).
 *
 * Bands. selectBands picks them; what matters here is the evidence it had (BandChoice.basis):
 *  - the user's bands or sensor, band descriptions, or colour interpretation name them: trusted;
 *  - the model's guess for this band count (NAIP for 4 bands, Sentinel-1 for 2): trusted, unless a
 *    chosen band is alpha or a palette index, or the scene's sample type rules the sensor out
 *    (SENSOR_SAMPLE_TYPES: dB backscatter is real-valued, NAIP is 8-bit);
 *  - nothing at all, only "the first N bands": trusted only where that is the usual file order,
 *    that is the model's bands are a prefix of red, green, blue, nir and the scene has at most one
 *    band more (RGB or RGBN) which no description or colour interpretation contradicts. So an
 *    RGB model takes NAIP's R, G, B, but not bands B1, B2, B3 of a Sentinel-2 stack, and a VV, VH
 *    model never takes the first two bands of an optical scene.
 *  - a model whose input_scale is 1/255 expects 8-bit values; other sample types are unsuitable.
 * What cannot be seen here: pixel values (a 4-band uint8 Landsat stack passes as NAIP; a float
 * file of linear sigma0 passes as dB). The reason always says how the bands were chosen.
 *
 * Resolution, measured on the ground along each axis (groundPixelMetres). Within RESAMPLE_THRESHOLD
 * (1.5x) of the model's, in pixels about square on the ground: good. Finer, up to 3x coarser, or
 * not square (a lon/lat scene far from the equator): resampled (segmentScene resamples each axis of
 * the tiles to the model's resolution and back, the same decision: groundResampling). An axis more
 * than 3x coarser: unsuitable, since upsampling cannot invent the detail the model looks for. A
 * model without a resolution (index rules such as spectral-water) fits any resolution.
 */
import type { DType, RasterInfo } from '../read/raster.ts';
import { bandSays, selectBands, type BandChoice } from './band-selection.ts';
import { groundResampling, RESAMPLE_THRESHOLD } from './tile-geometry.ts';
import { coarsening } from './model-grid.ts';
import type { ModelSpec } from '../infer/model-spec.ts';
import { BandSelectionError } from '../errors.ts';

export type Fit = 'good' | 'resampled' | 'unsuitable';

export interface ModelFit {
  fit: Fit;
  /** One line for people: how the bands were chosen and how the resolutions compare, or what is wrong. */
  reason: string;
  /** Ground size of a scene pixel; null where it cannot be compared (a body other than Earth). */
  scene_resolution_m: number | null;
  /** The model's resolution; null for models that work at any resolution. */
  model_resolution_m: number | null;
}

export interface ModelFitOptions {
  /** The bands the user asked for (1-based), as for segmentScene. */
  bands?: number[];
  /** The sensor the user named, as for segmentScene. */
  sensor?: string;
}

/** Sensors whose sample type says only what their files usually are: it rules out a guess, not a user's word. */
const TYPE_SETS_ONLY_A_GUESS = new Set(['naip']);

/** A scene more than this many times coarser than the model is unsuitable. */
export const UPSAMPLE_LIMIT = 3;

/** Sample types a sensor's products come in, where that alone rules a scene in or out. */
export const SENSOR_SAMPLE_TYPES: Record<string, DType[]> = {
  // Backscatter in dB is signed and fractional: an integer file is not dB.
  sentinel1: ['float32', 'float64'],
  naip: ['uint8'],
};

/** A band's description as a model band name: lower case, "Near infrared" and "NIR" alike. */
function normalBandWord(said: string): string {
  const w = said.trim().toLowerCase();
  return /^(nir|near[ -]?infra-?red)$/.test(w) ? 'nir' : w;
}

/** Band names that "the first N bands" stands for in an image file, in file order. */
const IMAGE_ORDER = ['red', 'green', 'blue', 'nir'];

const metres = (m: number) => `${m < 1 ? m.toPrecision(2) : m.toFixed(1)} m`;

function expects8Bit(spec: ModelSpec): boolean {
  return Math.abs(spec.inputScale * 255 - 1) < 1e-6;
}

/** What is wrong with the chosen bands (none: an empty list). */
function bandProblems(spec: ModelSpec, info: RasterInfo, choice: BandChoice): string[] {
  const problems: string[] = [];
  const chosen = choice.bands.map((i) => info.bands[i - 1]!);
  if (expects8Bit(spec) && info.dtype !== 'uint8') {
    // What to do, not only what is wrong: the stretch a viewer draws the scene with is the one to keep.
    problems.push(`model ${spec.id} expects 8-bit values (input_scale 1/255); the scene is ${info.dtype}: stretch it to 8 bits first (gdal_translate -ot Byte -scale LOW HIGH 0 255, with LOW and HIGH the values its imagery spans)`);
  }
  const odd = chosen.find((b) => b.colorInterp === 'alpha' || b.colorInterp === 'palette');
  if (odd) problems.push(`band ${odd.index} is ${odd.colorInterp === 'alpha' ? 'an alpha band' : 'palette indexes'}, not ${spec.bands.names[chosen.indexOf(odd)] ?? 'image data'}`);
  const types = choice.sensor ? SENSOR_SAMPLE_TYPES[choice.sensor] : undefined;
  // dB backscatter is never an integer, whoever says so; NAIP's 8 bits only rule out a guess: a
  // user who names the sensor vouches for a copy in another type (an 8-bit NAIP copied to 16 bits
  // was refused even with --sensor naip, though spectral-water's ratios read it alike).
  const checked = choice.basis === 'band-count' || (choice.basis === 'sensor' && !TYPE_SETS_ONLY_A_GUESS.has(choice.sensor!));
  if (checked && types && !types.includes(info.dtype)) {
    problems.push(`${choice.sensor} data is ${types.join(' or ')}; the scene is ${info.dtype}${choice.basis === 'band-count' && TYPE_SETS_ONLY_A_GUESS.has(choice.sensor!) ? `: if its bands are ${choice.sensor}'s all the same, give --sensor ${choice.sensor} or --bands` : ''}`);
  }
  const names = spec.bands.names.map((n) => n.toLowerCase());
  if (choice.basis === 'band-count' && names.length) {
    // The guess by band count against what the bands say they are: a NIR,R,G,B file described so
    // was still read as NAIP's R,G,B,NIR (probe: spectral-water found 0.2 % water for 24.9 %).
    const contradicted = chosen.flatMap((b, i) => {
      const said = bandSays(b);
      const j = said ? names.findIndex((n) => normalBandWord(said) === n) : -1;
      return j >= 0 && choice.bands[j] !== b.index ? [`band ${b.index} is ${said}, not ${spec.bands.names[i]}`] : [];
    });
    if (contradicted.length) problems.push(`the bands ${choice.sensor} is assumed to have for a ${info.bandCount}-band scene contradict what the scene says of them (${contradicted.join('; ')}); give --bands`);
  }
  if (choice.basis === 'first-bands' && names.length) {
    const contradicted = chosen.flatMap((b, i) => {
      const said = bandSays(b);
      return said && said.toLowerCase() !== names[i] ? [`band ${b.index} is ${said}`] : [];
    });
    const usable = info.bands.filter((b) => b.colorInterp !== 'alpha').length;
    const wanted = spec.bands.names.join(', ');
    if (contradicted.length) {
      problems.push(`model ${spec.id} needs ${wanted}; ${contradicted.join(', ')}`);
    } else if (names.some((n, i) => n !== IMAGE_ORDER[i])) {
      problems.push(`nothing identifies scene bands ${choice.bands.join(',')} as ${wanted} (no band descriptions name them and model ${spec.id} assumes no sensor for a ${info.bandCount}-band scene); give --bands or --sensor if they are`);
    } else if (usable > names.length + 1) {
      problems.push(`a ${usable}-band scene is a multispectral stack: nothing says its first ${names.length} bands are ${wanted}; give --bands if they are`);
    }
  }
  return problems;
}

/** How a scene's bands and ground resolution suit a model; pure, reads nothing. */
export function modelFit(spec: ModelSpec, info: RasterInfo, opts: ModelFitOptions = {}): ModelFit {
  const { ground, stretched, factors } = groundResampling(spec, info);
  // One figure for a pixel: the side of a square of its ground area.
  const sceneRes = ground ? Math.sqrt(ground.x * ground.y) : null;
  const modelRes = spec.resolutionCm ? spec.resolutionCm / 100 : null;
  const result = (fit: Fit, reasons: string[]): ModelFit => ({
    fit,
    reason: reasons.join('; '),
    scene_resolution_m: sceneRes === null ? null : Math.round(sceneRes * 1000) / 1000,
    model_resolution_m: modelRes,
  });

  const problems: string[] = [];
  let bandNote = '';
  try {
    const choice = selectBands(spec, info, opts.bands, opts.sensor);
    bandNote = `bands: ${choice.how}`;
    problems.push(...bandProblems(spec, info, choice));
  } catch (err) {
    if (!(err instanceof BandSelectionError)) throw err;
    problems.push(err.message);
  }

  let resFit: Fit = 'good';
  let resNote: string;
  if (modelRes === null) {
    resNote = `model ${spec.id} works at any resolution`;
  } else if (sceneRes === null) {
    resNote = 'the scene is not on Earth: its ground resolution is not compared';
  } else {
    // The coarser axis decides what upsampling would have to invent.
    const ratio = (stretched ? Math.max(ground!.x, ground!.y) : sceneRes) / modelRes;
    const vs = stretched ? `scene pixels ${metres(ground!.x)} wide and ${metres(ground!.y)} tall on the ground:` : `scene ${metres(sceneRes)} is`;
    const model = `${spec.id}'s ${metres(modelRes)}`;
    const c = coarsening(spec, info);
    const averaged = c ? `it is averaged in ${c.x} x ${c.y} blocks, the mask is on that grid` : '';
    if (Math.min(ground!.x, ground!.y) < modelRes && Math.min(ground!.x * info.width, ground!.y * info.height) < modelRes / 2) {
      // Finer than the model, and averaged to half its pixel it would not make one (model-grid.ts).
      resFit = 'unsuitable';
      resNote = `the scene is ${metres(ground!.x * info.width)} x ${metres(ground!.y * info.height)} on the ground, less than half of ${model} pixel on a side: too small for the model to see`;
      problems.push(resNote);
    } else if (stretched && ratio <= UPSAMPLE_LIMIT) {
      resFit = 'resampled';
      resNote = `${vs}${c ? ` ${averaged}, and` : ''} each axis of the tiles is resampled to ${model} square pixels${ratio > RESAMPLE_THRESHOLD ? ', and upsampling adds no detail' : ''}`;
    } else if (!factors && Math.max(ratio, 1 / ratio) <= RESAMPLE_THRESHOLD) {
      resNote = `${vs} within ${RESAMPLE_THRESHOLD}x of ${model}`;
    } else if (ratio < 1) {
      resFit = 'resampled';
      resNote = `${vs} ${(1 / ratio).toFixed(1)}x finer than ${model}; ${c ? `${averaged}, and ` : ''}tiles are downsampled to the model's resolution`;
    } else if (ratio <= UPSAMPLE_LIMIT) {
      resFit = 'resampled';
      resNote = `${vs} ${ratio.toFixed(1)}x coarser than ${model}; tiles are upsampled, which adds no detail`;
    } else {
      resFit = 'unsuitable';
      resNote = `${vs} ${ratio.toFixed(1)}x coarser than ${model}; upsampling cannot invent detail`;
      problems.push(resNote);
    }
  }
  if (problems.length) return result('unsuitable', problems);
  return result(resFit, [bandNote, resNote]);
}
