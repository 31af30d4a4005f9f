/**
 * modelFit: which installed model suits which scene, by bands and by ground resolution, on
 * RasterInfos crafted like NAIP, Sentinel-2, Sentinel-1 and the Dubai aerial imagery, and on the
 * real scenes in ../shared.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { modelFit } from '../../server/src/segment/model-fit.ts';
import { ModelRegistry } from '../../server/src/infer/model-registry.ts';
import type { ModelSpec } from '../../server/src/infer/model-spec.ts';
import type { BandInfo, ColorInterp, DType, RasterInfo } from '../../server/src/read/raster.ts';
import { openRaster } from '../../server/src/read/open-raster.ts';
import { repoRoot, scenesDir, sharedSkipReason, skipWithoutShared } from '../helpers/shared-data.ts';
import { failWithoutSharedUnderCi } from '../helpers/require-shared.ts';

const registry = new ModelRegistry(path.join(repoRoot, 'models'));
const aerial = registry.get('aerial-landcover');
const spectral = registry.get('spectral-water');
const sar = registry.get('sar-water');

const S2_13 = ['B1', 'B2', 'B3', 'B4', 'B5', 'B6', 'B7', 'B8', 'B8A', 'B9', 'B10', 'B11', 'B12'];
const DW_BANDS = ['B2', 'B3', 'B4', 'B5', 'B6', 'B7', 'B8', 'B11', 'B12'];
/** Dynamic World as it may be installed later: 9 Sentinel-2 bands at 10 m. */
const dynamicWorld: ModelSpec = {
  ...spectral,
  id: 'dynamic-world',
  path: '/nowhere/dynamic-world.onnx',
  classNames: ['water', 'trees', 'grass', 'flooded_vegetation', 'crops', 'shrub_and_scrub', 'built', 'bare', 'snow_and_ice'],
  resolutionCm: 1000,
  inputChannels: 9,
  mean: Array(9).fill(0),
  std: Array(9).fill(1),
  bands: {
    names: DW_BANDS,
    sensors: { 'sentinel2-l1c': DW_BANDS, 'sentinel2-l1c-13': [2, 3, 4, 5, 6, 7, 8, 12, 13], 'sentinel2-dw9': [1, 2, 3, 4, 5, 6, 7, 8, 9] },
    byBandCount: { 13: 'sentinel2-l1c-13', 9: 'sentinel2-dw9' },
  },
};

interface SceneLike {
  bands: number;
  dtype: DType;
  /** Metres per pixel (a UTM scene). */
  res: number;
  descriptions?: string[];
  colorInterps?: ColorInterp[];
  nonEarth?: boolean;
}

function scene(s: SceneLike): RasterInfo {
  const bands: BandInfo[] = Array.from({ length: s.bands }, (_, i) => ({
    index: i + 1,
    description: s.descriptions?.[i] ?? null,
    colorInterp: s.colorInterps?.[i] ?? (i === 0 ? 'gray' : 'undefined'),
  }));
  return {
    width: 1000,
    height: 1000,
    bandCount: s.bands,
    dtype: s.dtype,
    nodata: null,
    geoTransform: [500_000, s.res, 0, 4_200_000, 0, -s.res],
    crs: { epsg: 32630, proj4: '+proj=utm +zone=30 +datum=WGS84 +units=m +no_defs', name: 'WGS 84 / UTM zone 30N', geographic: false, nonEarth: s.nonEarth },
    bands,
    overviews: [],
    maskKind: 'none',
    colorMap: null,
    metadata: {},
    blockWidth: 256,
    blockHeight: 256,
    compression: 'none',
  };
}

const naip = (res = 5) => scene({ bands: 4, dtype: 'uint8', res });
const s2Described = (res = 10) => scene({ bands: 13, dtype: 'int16', res, descriptions: S2_13 });
const s2Nine = scene({ bands: 9, dtype: 'int16', res: 10 });
const s1 = (res = 10, descriptions: string[] | null = ['VV', 'VH'], dtype: DType = 'float32') => scene({ bands: 2, dtype, res, descriptions: descriptions ?? undefined });
const dubai = (dtype: DType = 'uint8') => scene({ bands: 3, dtype, res: 1, colorInterps: ['red', 'green', 'blue'] });

const fitOf = (spec: ModelSpec, info: RasterInfo, o?: Parameters<typeof modelFit>[2]) => modelFit(spec, info, o).fit;

describe('modelFit by bands and resolution', () => {
  it('NAIP-like (R, G, B, NIR uint8 at 5 m): spectral-water only', () => {
    const a = modelFit(aerial, naip());
    expect(a.fit).toBe('unsuitable');
    expect(a.reason).toBe("scene 5.0 m is 5.0x coarser than aerial-landcover's 1.0 m; upsampling cannot invent detail");
    expect(a).toMatchObject({ scene_resolution_m: 5, model_resolution_m: 1 });
    const w = modelFit(spectral, naip());
    expect(w.fit).toBe('good');
    expect(w.model_resolution_m).toBeNull();
    expect(w.reason).toMatch(/naip bands 2,1,4,4, assumed for a 4-band scene.*works at any resolution/);
    const r = modelFit(sar, naip());
    expect(r.fit).toBe('unsuitable');
    expect(r.reason).toMatch(/^nothing identifies scene bands 1,2 as VV, VH/);
    expect(modelFit(dynamicWorld, naip()).reason).toMatch(/needs 9 bands .* the scene has 4 usable bands/);
  });

  it('Sentinel-2 with B1..B12 descriptions: spectral-water and dynamic-world, not the RGB or radar models', () => {
    expect(modelFit(spectral, s2Described()).reason).toMatch(/sentinel2-l1c bands B3,B4,B8,B11 by band description/);
    expect(fitOf(spectral, s2Described())).toBe('good');
    expect(modelFit(dynamicWorld, s2Described())).toMatchObject({ fit: 'good', scene_resolution_m: 10, model_resolution_m: 10 });
    const a = modelFit(aerial, s2Described(1));
    expect(a.fit).toBe('unsuitable');
    expect(a.reason).toContain('expects 8-bit values (input_scale 1/255); the scene is int16');
    expect(a.reason).toContain('band 1 is B1, band 2 is B2, band 3 is B3');
    const r = modelFit(sar, s2Described());
    expect(r).toMatchObject({ fit: 'unsuitable', reason: 'model sar-water needs VV, VH; band 1 is B1, band 2 is B2' });
  });

  it('9-band Sentinel-2 stack without descriptions: only the model that expects that stack', () => {
    expect(modelFit(dynamicWorld, s2Nine).reason).toMatch(/sentinel2-dw9 bands 1,2,3,4,5,6,7,8,9, assumed for a 9-band scene/);
    expect(fitOf(dynamicWorld, s2Nine)).toBe('good');
    expect(modelFit(spectral, s2Nine).reason).toMatch(/^nothing identifies scene bands 1,2,3,4 as green, red, nir, swir1/);
    const a = modelFit(aerial, scene({ bands: 9, dtype: 'uint8', res: 1 }));
    expect(a.fit).toBe('unsuitable');
    expect(a.reason).toMatch(/a 9-band scene is a multispectral stack: nothing says its first 3 bands are red, green, blue/);
    expect(fitOf(sar, s2Nine)).toBe('unsuitable');
  });

  it('Sentinel-1-like (VV, VH float32 at 10 m): sar-water only', () => {
    const r = modelFit(sar, s1());
    expect(r).toMatchObject({ fit: 'good', scene_resolution_m: 10, model_resolution_m: 10 });
    expect(r.reason).toBe("bands: matched by name (VV=1, VH=2); scene 10.0 m is within 1.5x of sar-water's 10.0 m");
    // No descriptions: two float bands are taken as Sentinel-1 VV, VH by band count.
    expect(modelFit(sar, s1(10, null)).reason).toMatch(/sentinel1 bands 1,2, assumed for a 2-band scene/);
    expect(fitOf(sar, s1(10, null))).toBe('good');
    // ...but two 8-bit bands are not dB backscatter, and an alpha band is not VH.
    expect(modelFit(sar, s1(10, null, 'uint8')).reason).toBe('sentinel1 data is float32 or float64; the scene is uint8');
    const grayAlpha = scene({ bands: 2, dtype: 'float32', res: 10, colorInterps: ['gray', 'alpha'] });
    expect(modelFit(sar, grayAlpha)).toMatchObject({ fit: 'unsuitable', reason: 'band 2 is an alpha band, not VH' });
    expect(modelFit(aerial, s1()).reason).toMatch(/needs 3 bands \(red, green, blue\); the scene has 2 usable bands/);
    expect(fitOf(spectral, s1())).toBe('unsuitable');
    expect(fitOf(dynamicWorld, s1())).toBe('unsuitable');
  });

  it('Dubai-like RGB at 1 m: aerial-landcover only, and only as 8-bit', () => {
    expect(modelFit(aerial, dubai())).toMatchObject({ fit: 'good', reason: "bands: matched by name (red=1, green=2, blue=3); scene 1.0 m is within 1.5x of aerial-landcover's 1.0 m" });
    expect(modelFit(aerial, dubai('uint16')).reason).toBe('model aerial-landcover expects 8-bit values (input_scale 1/255); the scene is uint16: stretch it to 8 bits first (gdal_translate -ot Byte -scale LOW HIGH 0 255, with LOW and HIGH the values its imagery spans)');
    expect(modelFit(sar, dubai()).reason).toBe('model sar-water needs VV, VH; band 1 is red, band 2 is green');
    expect(fitOf(spectral, dubai())).toBe('unsuitable');
    expect(fitOf(dynamicWorld, dubai())).toBe('unsuitable');
  });

  it('grades resolution: within 1.5x good, finer or up to 3x coarser resampled, beyond unsuitable', () => {
    const at = (res: number) => modelFit(aerial, naip(res));
    expect(at(1.5).fit).toBe('good');
    expect(at(1 / 1.5).fit).toBe('good');
    expect(at(1.6).reason).toMatch(/scene 1\.6 m is 1\.6x coarser than aerial-landcover's 1\.0 m; tiles are upsampled, which adds no detail$/);
    expect(at(1.6).fit).toBe('resampled');
    expect(at(3).fit).toBe('resampled');
    expect(at(3.1).fit).toBe('unsuitable');
    expect(at(0.3)).toMatchObject({ fit: 'resampled', scene_resolution_m: 0.3 });
    expect(at(0.3).reason).toMatch(/scene 0\.30 m is 3\.3x finer than aerial-landcover's 1\.0 m; tiles are downsampled/);
    // At least 4x finer: averaged in whole blocks first, to pixels at most half the model's.
    expect(at(0.2).reason).toMatch(/scene 0\.20 m is 5\.0x finer than aerial-landcover's 1\.0 m; it is averaged in 2 x 2 blocks, the mask is on that grid, and tiles are downsampled/);
    expect(at(0.03).reason).toMatch(/it is averaged in 16 x 16 blocks/);
    // A scene smaller than half the model's pixel: nothing for the model to see.
    expect(modelFit(aerial, { ...naip(0.03), width: 10, height: 2000 })).toMatchObject({ fit: 'unsuitable', reason: expect.stringMatching(/the scene is 0\.30 m x 60\.0 m on the ground, less than half of aerial-landcover's 1\.0 m pixel on a side: too small for the model to see/) });
    expect(fitOf(dynamicWorld, s2Described(20))).toBe('resampled');
    expect(modelFit(dynamicWorld, s2Described(60)).reason).toBe("scene 60.0 m is 6.0x coarser than dynamic-world's 10.0 m; upsampling cannot invent detail");
    expect(fitOf(sar, s1(40))).toBe('unsuitable');
    // A model without a resolution fits any.
    expect(fitOf(spectral, s2Described(60))).toBe('good');
    expect(fitOf(spectral, naip(0.1))).toBe('good');
  });

  it('names every problem at once', () => {
    expect(modelFit(aerial, s2Described(10)).reason).toBe([
      'model aerial-landcover expects 8-bit values (input_scale 1/255); the scene is int16: stretch it to 8 bits first (gdal_translate -ot Byte -scale LOW HIGH 0 255, with LOW and HIGH the values its imagery spans)',
      'model aerial-landcover needs red, green, blue; band 1 is B1, band 2 is B2, band 3 is B3',
      "scene 10.0 m is 10.0x coarser than aerial-landcover's 1.0 m; upsampling cannot invent detail",
    ].join('; '));
  });

  it('trusts bands or a sensor the user names', () => {
    const r = modelFit(sar, naip(), { bands: [1, 2] });
    expect(r.reason).toMatch(/^bands: bands 1,2 as given; scene 5\.0 m is 2\.0x finer/);
    expect(r.fit).toBe('resampled');
    expect(fitOf(sar, s1(10, null))).toBe('good');
    expect(modelFit(sar, s1(10, ['HH', 'HV'], 'uint16'), { sensor: 'sentinel1' }).reason).toBe('sentinel1 data is float32 or float64; the scene is uint16');
    expect(modelFit(sar, naip(), { bands: [1, 2, 3] }).reason).toMatch(/needs 2 bands \(VV, VH\); 3 bands were given/);
  });

  it('does not compare resolutions on other bodies', () => {
    const r = modelFit(aerial, scene({ bands: 3, dtype: 'uint8', res: 50, colorInterps: ['red', 'green', 'blue'], nonEarth: true }));
    expect(r).toMatchObject({ fit: 'good', scene_resolution_m: null, model_resolution_m: 1 });
    expect(r.reason).toMatch(/not on Earth/);
  });

  failWithoutSharedUnderCi();
  describe.skipIf(skipWithoutShared)(`on the real scenes ${sharedSkipReason}`, () => {
    const expected: Record<string, Record<string, string>> = {
      'naip_2020.tif': { 'aerial-landcover': 'unsuitable', 'spectral-water': 'good', 'sar-water': 'unsuitable', 'dynamic-world': 'unsuitable' },
      // Lon/lat chips at 38° N: pixels 7.9 m wide and 10 m tall, resampled to square 10 m ones.
      'sen1floods11_spain_s1.tif': { 'aerial-landcover': 'unsuitable', 'spectral-water': 'unsuitable', 'sar-water': 'resampled', 'dynamic-world': 'unsuitable' },
      'sen1floods11_spain_s2.tif': { 'aerial-landcover': 'unsuitable', 'spectral-water': 'good', 'sar-water': 'unsuitable', 'dynamic-world': 'resampled' },
      'spacenet_atlanta_pan.tif': { 'aerial-landcover': 'unsuitable', 'spectral-water': 'unsuitable', 'sar-water': 'unsuitable', 'dynamic-world': 'unsuitable' },
    };
    for (const [file, byModel] of Object.entries(expected)) {
      it(`${file}: ${Object.entries(byModel).map(([m, f]) => `${m} ${f}`).join(', ')}`, async () => {
        const src = await openRaster(path.join(scenesDir, file));
        try {
          for (const [id, fit] of Object.entries(byModel)) {
            const r = modelFit(id === 'dynamic-world' ? dynamicWorld : registry.get(id), src.info);
            console.log(`${file} x ${id}: ${r.fit} (${r.reason})`);
            expect(r.fit, `${id}: ${r.reason}`).toBe(fit);
          }
        } finally {
          await src.close();
        }
      });
    }

    it('measures the geographic S1 chip in metres at its latitude (7.9 m wide, 10.0 m tall)', async () => {
      const src = await openRaster(path.join(scenesDir, 'sen1floods11_spain_s1.tif'));
      const r = modelFit(sar, src.info);
      await src.close();
      // 0.0000898 degrees at 38.1 N: 7.88 m of longitude, 9.97 m of latitude (WGS 84); one figure
      // for the pixel is the side of a square of its area.
      expect(r.reason).toMatch(/scene pixels 7\.9 m wide and 10\.0 m tall on the ground: each axis of the tiles is resampled to sar-water's 10\.0 m square pixels$/);
      expect(r.scene_resolution_m).toBeCloseTo(Math.sqrt(7.880 * 9.971), 2);
    });
  });
});

describe('band names and guesses as users\' files carry them (probe)', () => {
  it('finds bands by ESA\'s zero-padded names and by a name inside a longer description (SNAP)', () => {
    const esa = scene({ bands: 13, dtype: 'int16', res: 10, descriptions: ['B02', 'B03', 'B04', 'B08', 'B05', 'B06', 'B07', 'B8A', 'B11', 'B12', 'B01', 'B09', 'B10'] });
    // Resolution order with ESA's names: it fell back to the 13-band product order.
    expect(modelFit(spectral, esa).reason).toMatch(/^bands: sentinel2-l1c bands B3,B4,B8,B11 by band description/);
    const snap = s1(10, ['Sigma0_VH_db', 'Sigma0_VV_db']);
    // SNAP's export, VH first: it was read as VV, VH by the 2-band guess.
    expect(modelFit(sar, snap).reason).toMatch(/^bands: matched by name \(VV=2, VH=1\)/);
    // A word in several descriptions names none of them ("red" in "Red Edge 1" and "Red").
    expect(modelFit(aerial, scene({ bands: 4, dtype: 'uint8', res: 1, descriptions: ['Red', 'Red edge', 'Green', 'Blue'] })).reason).toMatch(/matched by name \(red=1, green=3, blue=4\)/);
  });

  it('refuses a band-count guess the bands\' own descriptions contradict, and takes an alpha band after RGBN as a mask', () => {
    const nirFirst = scene({ bands: 4, dtype: 'uint8', res: 5, descriptions: ['NIR', 'Red', 'Green', 'Blue'] });
    const r = modelFit(spectral, nirFirst);
    expect(r.fit).toBe('unsuitable');
    expect(r.reason).toBe('the bands naip is assumed to have for a 4-band scene contradict what the scene says of them (band 2 is Red, not green; band 1 is NIR, not red); give --bands');
    // NAIP as written (R, G, B colour interpretation, NIR undescribed): still the NAIP guess.
    expect(fitOf(spectral, scene({ bands: 4, dtype: 'uint8', res: 5, colorInterps: ['red', 'green', 'blue', 'undefined'] }))).toBe('good');
    // RGBN plus alpha: "no sensor for a 5-band scene" before.
    const rgbna = scene({ bands: 5, dtype: 'uint8', res: 5, colorInterps: ['red', 'green', 'blue', 'undefined', 'alpha'] });
    expect(modelFit(spectral, rgbna).reason).toMatch(/^bands: naip bands 2,1,4,4, assumed for a 5-band scene/);
  });

  it('trusts a user who names NAIP for a copy in another sample type, and says how for a guess', () => {
    const naip16 = scene({ bands: 4, dtype: 'uint16', res: 5 });
    expect(modelFit(spectral, naip16).reason).toBe("naip data is uint8; the scene is uint16: if its bands are naip's all the same, give --sensor naip or --bands");
    expect(fitOf(spectral, naip16, { sensor: 'naip' })).toBe('good');
  });
});
