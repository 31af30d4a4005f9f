/**
 * Builds models/sar-water/model.onnx: open water / not water from Sentinel-1 VV and VH backscatter
 * in dB, no training. Run: npx tsx models/sar-water/build-model.ts
 *
 * Calm open water is a specular reflector: the radar pulse bounces away from the satellite and
 * almost nothing comes back, so water is darker than nearly all land in both polarisations.
 *
 *   1. Speckle filter: a 5 x 5 boxcar mean of each band, taken in LINEAR power, then back to dB.
 *      Speckle is multiplicative, and the boxcar (multi-look) estimate of the backscatter
 *      coefficient is the mean of intensities; a mean of dB values is a geometric mean, biased low
 *      (about 2.5 dB for single-look speckle, less on multi-looked GRD), which would shift every
 *      pixel against the published thresholds, which are stated on calibrated sigma0 in dB.
 *      The price: one bright scatterer (a ship, a pylon) lifts the linear mean of its 5 x 5
 *      neighbourhood, so water within 2 px of it can be lost; a dB mean would resist that better.
 *   2. Soft thresholds, combined with a fuzzy AND (the minimum):
 *        p(water) = min(sigmoid(k (T_VV - VV5)), sigmoid(k (T_VH - VH5)))
 *      The minimum keeps the hard decision (p > 0.5) exactly at "VV5 < T_VV and VH5 < T_VH", while
 *      staying continuous so overlapping tiles blend. Requiring both polarisations keeps out smooth
 *      bare soil and low vegetation, which are dark in VH (little volume scattering) but not in VV.
 *   3. Output [p(water), 1 - p(water)]: two classes that sum to 1 at every pixel.
 *
 * Thresholds: the middle of the range commonly used for open water on Sentinel-1 GRD
 * (VV -15 to -18 dB, VH -22 to -25 dB); see the model card for sources. They were fixed before
 * looking at any result and are NOT fitted to the Sen1Floods11 chip we have.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TensorType, type GraphNode, type Tensor } from '../../server/src/infer/onnx-proto.ts';
import { writeRuleModel } from '../rule-model.ts';

export const VV_THRESHOLD_DB = -16.5;
export const VH_THRESHOLD_DB = -23.5;
/** Per dB: 1 dB past a threshold gives 0.88 (or 0.12); 2 dB give 0.98. */
export const SHARPNESS_PER_DB = 2;
/** Side of the boxcar speckle filter, in pixels (5 px = 50 m on 10 m GRD). */
export const FILTER_SIZE = 5;

export interface SarWaterOptions {
  /** Leave out the speckle filter (tests compare with and without it). */
  speckleFilter?: boolean;
}

export function buildSarWater(options: SarWaterOptions = {}): Uint8Array {
  const filter = options.speckleFilter ?? true;
  const nodes: GraphNode[] = [];
  const init: Tensor[] = [];
  const i64 = (name: string, values: number[]) => init.push({ name, dims: [values.length], dataType: TensorType.INT64, values });
  const f32 = (name: string, value: number) => init.push({ name, dims: [], dataType: TensorType.FLOAT, values: [value] });
  i64('axis1', [1]);
  f32('one', 1);
  f32('k', SHARPNESS_PER_DB);
  f32('t_vv', VV_THRESHOLD_DB);
  f32('t_vh', VH_THRESHOLD_DB);

  let db = 'input';
  if (filter) {
    const half = (FILTER_SIZE - 1) / 2;
    f32('db_to_ln', Math.LN10 / 10);
    f32('ln_to_db', 10 / Math.LN10);
    nodes.push({ op: 'Mul', inputs: ['input', 'db_to_ln'], outputs: ['ln_power'] });
    nodes.push({ op: 'Exp', inputs: ['ln_power'], outputs: ['power'] });
    // count_include_pad 0: at a tile's own border the mean is over the pixels that exist, not
    // diluted by zeros (tiles overlap, so those borders are blended away anyway).
    nodes.push({
      op: 'AveragePool',
      inputs: ['power'],
      outputs: ['power_mean'],
      attributes: { kernel_shape: [FILTER_SIZE, FILTER_SIZE], strides: [1, 1], pads: [half, half, half, half], count_include_pad: 0 },
    });
    nodes.push({ op: 'Log', inputs: ['power_mean'], outputs: ['ln_mean'] });
    nodes.push({ op: 'Mul', inputs: ['ln_mean', 'ln_to_db'], outputs: ['filtered_db'] });
    db = 'filtered_db';
  }
  ['vv', 'vh'].forEach((band, i) => {
    i64(`${band}.start`, [i]);
    i64(`${band}.end`, [i + 1]);
    nodes.push({ op: 'Slice', inputs: [db, `${band}.start`, `${band}.end`, 'axis1'], outputs: [band] });
    nodes.push({ op: 'Sub', inputs: [`t_${band}`, band], outputs: [`${band}.margin`] });
    nodes.push({ op: 'Mul', inputs: [`${band}.margin`, 'k'], outputs: [`${band}.km`] });
    nodes.push({ op: 'Sigmoid', inputs: [`${band}.km`], outputs: [`${band}.dark`] });
  });
  nodes.push({ op: 'Min', inputs: ['vv.dark', 'vh.dark'], outputs: ['p_water'] });
  nodes.push({ op: 'Sub', inputs: ['one', 'p_water'], outputs: ['p_not_water'] });

  return writeRuleModel({
    name: filter ? 'sar-water' : 'sar-water-unfiltered',
    inputChannels: 2,
    classes: [
      { name: 'water', color: '#2B83BA', plane: 'p_water' },
      { name: 'not_water', color: '#D7C9A7', plane: 'p_not_water' },
    ],
    nodes,
    initializers: init,
    metadata: {
      // Sentinel-1 IW GRD pixel spacing; the thresholds are per pixel, the filter is 5 px wide.
      resolution: '1000',
      // The filter reads 2 px around each pixel: tiles overlap by more than that (16 px of 512) so
      // the blend fades out each tile's border, where the boxcar saw a truncated window.
      tiles_overlap: '3.125',
      tile_size: '512',
      input_scale: '1',
      standardization_mean: '[0, 0]',
      standardization_std: '[1, 1]',
      bands: JSON.stringify({ names: ['VV', 'VH'], sensors: { sentinel1: [1, 2] }, by_band_count: { 2: 'sentinel1' } }),
      description: `Open water from Sentinel-1 VV and VH backscatter in dB: ${filter ? `${FILTER_SIZE}x${FILTER_SIZE} boxcar speckle filter, then ` : ''}VV < ${VV_THRESHOLD_DB} dB and VH < ${VH_THRESHOLD_DB} dB (soft thresholds; no training).`,
      license: 'MIT',
      thresholds: JSON.stringify({ vv_db: VV_THRESHOLD_DB, vh_db: VH_THRESHOLD_DB, sharpness_per_db: SHARPNESS_PER_DB, combine: 'min', speckle_filter: filter ? `boxcar ${FILTER_SIZE}x${FILTER_SIZE} in linear power` : 'none' }),
    },
    docString: 'satseg sar-water: speckle-filtered VV/VH thresholds; see models/sar-water/README.md',
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = path.join(path.dirname(fileURLToPath(import.meta.url)), 'model.onnx');
  fs.writeFileSync(out, buildSarWater());
  console.log(`wrote ${out}`);
}
