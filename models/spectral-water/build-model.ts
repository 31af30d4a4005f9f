/**
 * Builds models/spectral-water/model.onnx: water / vegetation / other from spectral indices, no
 * training. Run: npx tsx models/spectral-water/build-model.ts
 *
 * Input bands (channels): green, red, nir, swir1. Raw DNs are fine: the indices are ratios, so a
 * common scale (reflectance x 1e4, 8-bit stretch) cancels out.
 *   NDWI  = (green - nir)   / (green + nir)     McFeeters 1996 (water > 0 on reflectance)
 *   MNDWI = (green - swir1) / (green + swir1)   Xu 2006 (water > 0 on reflectance)
 *   NDVI  = (nir - red)     / (nir + red)       vegetation > 0.3
 * The water threshold is 0.2, not the published 0: 8-bit aerial products such as NAIP are not
 * reflectance, and dry bare soil reaches NDWI ~0.05 there while open water is ~0.7 (measured on
 * naip_2020.tif; see the model card). Soft scores (a sigmoid of index minus threshold) rather than
 * hard thresholds, so overlapping tiles blend smoothly:
 *   p(water) = sigmoid(k (max(NDWI, MNDWI) - 0.2))
 *   p(veg)   = (1 - p(water)) sigmoid(k (NDVI - 0.3))
 *   p(other) = (1 - p(water)) (1 - sigmoid(k (NDVI - 0.3)))
 * Scenes without SWIR (NAIP) map swir1 to the NIR band; MNDWI then equals NDWI.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TensorType, type GraphNode, type Tensor } from '../../server/src/infer/onnx-proto.ts';
import { writeRuleModel } from '../rule-model.ts';

const SHARPNESS = 20;
const WATER_THRESHOLD = 0.2;
const VEGETATION_THRESHOLD = 0.3;

export function buildSpectralWater(): Uint8Array {
  const nodes: GraphNode[] = [];
  const init: Tensor[] = [];
  const i64 = (name: string, values: number[]) => init.push({ name, dims: [values.length], dataType: TensorType.INT64, values });
  const f32 = (name: string, value: number) => init.push({ name, dims: [], dataType: TensorType.FLOAT, values: [value] });
  i64('axis1', [1]);
  ['green', 'red', 'nir', 'swir1'].forEach((band, i) => {
    i64(`${band}.start`, [i]);
    i64(`${band}.end`, [i + 1]);
    nodes.push({ op: 'Slice', inputs: ['input', `${band}.start`, `${band}.end`, 'axis1'], outputs: [band] });
  });
  f32('eps', 1e-6);
  f32('one', 1);
  f32('k', SHARPNESS);
  f32('t_water', WATER_THRESHOLD);
  f32('t_veg', VEGETATION_THRESHOLD);
  const index = (name: string, a: string, b: string) => {
    nodes.push({ op: 'Sub', inputs: [a, b], outputs: [`${name}.num`] });
    nodes.push({ op: 'Add', inputs: [a, b], outputs: [`${name}.sum`] });
    nodes.push({ op: 'Add', inputs: [`${name}.sum`, 'eps'], outputs: [`${name}.den`] });
    nodes.push({ op: 'Div', inputs: [`${name}.num`, `${name}.den`], outputs: [name] });
  };
  index('ndwi', 'green', 'nir');
  index('mndwi', 'green', 'swir1');
  index('ndvi', 'nir', 'red');
  const soft = (name: string, x: string, t: string) => {
    nodes.push({ op: 'Sub', inputs: [x, t], outputs: [`${name}.d`] });
    nodes.push({ op: 'Mul', inputs: [`${name}.d`, 'k'], outputs: [`${name}.kd`] });
    nodes.push({ op: 'Sigmoid', inputs: [`${name}.kd`], outputs: [name] });
  };
  nodes.push({ op: 'Max', inputs: ['ndwi', 'mndwi'], outputs: ['wi'] });
  soft('p_water', 'wi', 't_water');
  soft('s_veg', 'ndvi', 't_veg');
  nodes.push({ op: 'Sub', inputs: ['one', 'p_water'], outputs: ['dry'] });
  nodes.push({ op: 'Mul', inputs: ['dry', 's_veg'], outputs: ['p_veg'] });
  nodes.push({ op: 'Sub', inputs: ['dry', 'p_veg'], outputs: ['p_other'] });

  return writeRuleModel({
    name: 'spectral-water',
    inputChannels: 4,
    classes: [
      { name: 'water', color: '#2B83BA', plane: 'p_water' },
      { name: 'vegetation', color: '#4DAC26', plane: 'p_veg' },
      { name: 'other', color: '#D7C9A7', plane: 'p_other' },
    ],
    nodes,
    initializers: init,
    metadata: {
      // Indices do not depend on ground resolution: no resampling. Each pixel alone decides its
      // class (receptive_field 1), so pixels that are not square on the ground change nothing.
      tiles_overlap: '0',
      receptive_field: '1',
      tile_size: '512',
      input_scale: '1',
      standardization_mean: '[0, 0, 0, 0]',
      standardization_std: '[1, 1, 1, 1]',
      bands: JSON.stringify({
        names: ['green', 'red', 'nir', 'swir1'],
        sensors: {
          'sentinel2-l1c': ['B3', 'B4', 'B8', 'B11'],
          'sentinel2-l1c-13': [3, 4, 8, 12],
          landsat8: [3, 4, 5, 6],
          landsat9: [3, 4, 5, 6],
          naip: [2, 1, 4, 4],
        },
        by_band_count: { 13: 'sentinel2-l1c-13', 4: 'naip' },
      }),
      description: 'Water, vegetation and other land from NDWI, MNDWI and NDVI (no training; soft thresholds).',
      license: 'MIT',
      thresholds: JSON.stringify({ water: { index: 'max(NDWI, MNDWI)', threshold: WATER_THRESHOLD }, vegetation: { index: 'NDVI', threshold: VEGETATION_THRESHOLD }, sharpness: SHARPNESS }),
    },
    docString: 'satseg spectral-water: index-based water/vegetation/other; see models/spectral-water/README.md',
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = path.join(path.dirname(fileURLToPath(import.meta.url)), 'model.onnx');
  fs.writeFileSync(out, buildSpectralWater());
  console.log(`wrote ${out}`);
}
