import { describe, expect, it } from 'vitest';
import { selectBands } from '../../server/src/segment/band-selection.ts';
import type { ModelSpec } from '../../server/src/infer/model-spec.ts';
import type { BandInfo, RasterInfo } from '../../server/src/read/raster.ts';
import { BandSelectionError } from '../../server/src/errors.ts';

function scene(bands: Array<Partial<BandInfo>>): RasterInfo {
  return {
    width: 10, height: 10, bandCount: bands.length, dtype: 'uint16', nodata: null, geoTransform: [0, 1, 0, 0, 0, -1],
    crs: { proj4: '+proj=longlat', name: 'x', geographic: true }, overviews: [], maskKind: 'none', colorMap: null, metadata: {},
    blockWidth: 10, blockHeight: 10, compression: 'none',
    bands: bands.map((b, i) => ({ index: i + 1, description: b.description ?? null, colorInterp: b.colorInterp ?? 'undefined' })),
  };
}

const rgbModel = { id: 'rgb', inputChannels: 3, bands: { names: ['red', 'green', 'blue'], sensors: {}, byBandCount: {} } } as unknown as ModelSpec;
const water = {
  id: 'water', inputChannels: 4,
  bands: { names: ['green', 'red', 'nir', 'swir1'], sensors: { s2: ['B3', 'B4', 'B8', 'B11'], naip: [2, 1, 4, 4], l8: [3, 4, 5, 6] }, byBandCount: { 4: 'naip' } },
} as unknown as ModelSpec;

describe('selectBands', () => {
  it('matches RGB by colour interpretation, whatever the order', () => {
    const s = scene([{ colorInterp: 'blue' }, { colorInterp: 'green' }, { colorInterp: 'red' }, { colorInterp: 'undefined' }]);
    expect(selectBands(rgbModel, s).bands).toEqual([3, 2, 1]);
  });

  it('takes the first N non-alpha bands when nothing matches (an RGBN scene feeds R, G, B)', () => {
    expect(selectBands(rgbModel, scene([{}, {}, {}, {}])).bands).toEqual([1, 2, 3]);
    expect(selectBands(rgbModel, scene([{ colorInterp: 'alpha' }, {}, {}, {}])).bands).toEqual([2, 3, 4]);
  });

  it('uses a sensor mapping by band description, by explicit sensor, or by band count', () => {
    const s2 = scene(['B1', 'B2', 'B3', 'B4', 'B5', 'B6', 'B7', 'B8', 'B8A', 'B9', 'B10', 'B11', 'B12'].map((d) => ({ description: d })));
    expect(selectBands(water, s2).bands).toEqual([3, 4, 8, 12]);
    expect(selectBands(water, scene(Array(7).fill({})), undefined, 'l8').bands).toEqual([3, 4, 5, 6]);
    const guessed = selectBands(water, scene([{}, {}, {}, {}]));
    expect(guessed.bands).toEqual([2, 1, 4, 4]);
    expect(guessed.how).toMatch(/assumed for a 4-band scene/);
  });

  it('explains what is missing', () => {
    expect(() => selectBands(rgbModel, scene([{}]))).toThrow(BandSelectionError);
    expect(() => selectBands(rgbModel, scene([{}]))).toThrow('model rgb needs 3 bands (red, green, blue); the scene has 1 usable band');
    expect(() => selectBands(water, scene([{}, {}]), undefined, 'l8')).toThrow(/needs 4 bands \(green, red, nir, swir1\) as l8 bands 3,4,5,6; the scene \(2 bands\) does not have them/);
    expect(() => selectBands(water, scene([{}, {}]), undefined, 'modis')).toThrow(/no band mapping for sensor "modis"; known: s2, naip, l8/);
    for (const name of ['__proto__', 'constructor', 'toString']) expect(() => selectBands(water, scene([{}, {}, {}, {}]), undefined, name)).toThrow(new RegExp(`no band mapping for sensor "${name}"`));
    expect(() => selectBands(rgbModel, scene([{}, {}, {}]), [1, 2, 5])).toThrow(/band 5 does not exist: the scene has 3 bands/);
  });
});
