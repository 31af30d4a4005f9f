import { describe, expect, it } from 'vitest';
import { bandPresets } from '../../web/src/band-presets.ts';
import type { Dataset, DatasetBand } from '../../web/src/api-types.ts';

function dataset(count: number, dtype: string, band: (i: number) => Partial<DatasetBand> = () => ({})): Dataset {
  const bands = Array.from({ length: count }, (_, i) => ({ index: i + 1, description: null, color_interp: 'Gray', statistics: null, ...band(i + 1) }) as DatasetBand);
  return { id: 'd', name: 'd.tif', usable: true, dtype, band_count: count, bands };
}

const presetsOf = (d: Dataset) => Object.fromEntries(bandPresets(d).map((p) => [p.id, p.bands]));

describe('band presets', () => {
  it('shows an unlabelled 13-band 16-bit stack as Sentinel-2 L1C (B4, B3, B2; NIR B8)', () => {
    const p = presetsOf(dataset(13, 'int16'));
    expect(p['true-colour']).toEqual([4, 3, 2]);
    expect(p['false-colour']).toEqual([8, 4, 3]);
    expect(p['bands-1-2-3']).toBeUndefined();
  });

  it('does the same for a 12-band L2A stack, but not for 8-bit or float 13-band files', () => {
    expect(presetsOf(dataset(12, 'uint16'))['true-colour']).toEqual([4, 3, 2]);
    // Not reflectances x 1e4: these keep the first three bands, as any unlabelled stack does.
    expect(presetsOf(dataset(13, 'uint8'))['true-colour']).toEqual([1, 2, 3]);
    expect(presetsOf(dataset(13, 'float32'))['true-colour']).toEqual([1, 2, 3]);
    expect(presetsOf(dataset(13, 'float32'))['false-colour']).toBeUndefined();
  });

  it('finds B4, B3, B2 and B8 by name in a Sentinel-2 stack that names its bands (B8A gives it away)', () => {
    const names = ['B2', 'B3', 'B4', 'B8', 'B8A', 'B11', 'B12'];
    const p = presetsOf(dataset(names.length, 'float32', (i) => ({ description: names[i - 1] })));
    expect(p['true-colour']).toEqual([3, 2, 1]);
    expect(p['false-colour']).toEqual([4, 3, 2]);
    const l1c = ['B1', 'B2', 'B3', 'B4', 'B5', 'B6', 'B7', 'B8', 'B8A', 'B9', 'B10', 'B11', 'B12'];
    expect(presetsOf(dataset(13, 'int16', (i) => ({ description: l1c[i - 1] })))['true-colour']).toEqual([4, 3, 2]);
  });

  it('believes band descriptions before band counts', () => {
    const named = dataset(13, 'uint16', (i) => ({ description: i === 1 ? 'Red' : i === 2 ? 'Green' : i === 3 ? 'Blue' : `band ${i}` }));
    expect(presetsOf(named)['true-colour']).toEqual([1, 2, 3]);
  });

  it('keeps NAIP-like RGBN scenes as they were: RGB true colour, band 4 as NIR', () => {
    const p = presetsOf(dataset(4, 'uint8'));
    expect(p['true-colour']).toEqual([1, 2, 3]);
    expect(p['false-colour']).toEqual([4, 1, 2]);
  });
});
