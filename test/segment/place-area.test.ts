/**
 * SATSEG_MAX_AREA_KM2 bounds the work of a job, which is the part of its area over the dataset:
 * measured on the dataset's footprint itself, not its lon/lat box, which for a polar
 * stereographic scene is twice the scene.
 */
import { describe, expect, it } from 'vitest';
import * as turf from '@turf/turf';
import { placeArea } from '../../server/src/segment/place-area.ts';
import { areaKm2, footprintWgs84 } from '../../server/src/segment/segment-area.ts';
import { converter, transformPoint, WGS84, transformableProj4 } from '../../server/src/read/crs-transform.ts';
import { crsFromEpsg } from '../../server/src/read/crs.ts';
import type { GeoTransform } from '../../server/src/read/raster.ts';
import type { RasterReader } from '../../server/src/read/raster-reader.ts';
import type { ModelSpec } from '../../server/src/infer/model-spec.ts';

// 30 x 30 km of 10 m pixels at 75° N 0° E in EPSG:3413 (NSIDC polar stereographic, central
// meridian 45° W): the footprint is turned 45° against the meridians.
const crs = crsFromEpsg(3413);
const [cx, cy] = transformPoint(converter(WGS84, transformableProj4(crs)), 0, 75)!;
const gt: GeoTransform = [cx - 15_000, 10, 0, cy + 15_000, 0, -10];
// placeArea reads only the grid of the dataset.
const reader = { info: { geoTransform: gt, width: 3000, height: 3000, crs }, earthBounds: () => undefined } as unknown as RasterReader;
const spec = { inputAlignment: 1 } as ModelSpec;
const footprint = footprintWgs84(gt, 3000, 3000, crs)!;
const box = turf.bbox(footprint);

describe('SATSEG_MAX_AREA_KM2 on a scene turned against the meridians', () => {
  it('measures the part of a larger box over the scene, not over its lon/lat box', async () => {
    const sceneKm2 = areaKm2(footprint);
    expect(sceneKm2).toBeGreaterThan(850);
    expect(sceneKm2).toBeLessThan(950);
    // Its lon/lat box is about twice the scene: measured on it, this box would be refused.
    expect(areaKm2(turf.bboxPolygon(box).geometry)).toBeGreaterThan(1.8 * sceneKm2);
    const [dx, dy] = [(box[2] - box[0]) * 0.2, (box[3] - box[1]) * 0.2];
    const larger = [box[0] - dx, box[1] - dy, box[2] + dx, box[3] + dy];
    const placed = await placeArea(reader, spec, undefined, larger, { maxAreaKm2: 1000 });
    expect(placed!.areaKm2).toBeGreaterThan(3000); // the area as sent, recorded as such
    expect(placed!.window).toEqual({ x: 0, y: 0, width: 3000, height: 3000 });
    await expect(placeArea(reader, spec, undefined, larger, { maxAreaKm2: 800 }))
      .rejects.toThrow(/^the area's part over the dataset is 9\d\d\.\d km², over the 800 km² limit/);
  });

  it('gives an area wholly over the scene its own size', async () => {
    const [w, s, e, n] = [box[0] + 0.3 * (box[2] - box[0]), box[1] + 0.3 * (box[3] - box[1]), box[2] - 0.3 * (box[2] - box[0]), box[3] - 0.3 * (box[3] - box[1])];
    const km2 = areaKm2(turf.bboxPolygon([w, s, e, n]).geometry);
    await expect(placeArea(reader, spec, undefined, [w, s, e, n], { maxAreaKm2: km2 / 2 }))
      .rejects.toThrow(new RegExp(`^the area is ${km2.toFixed(1)} km², over the`));
  });
});

describe('a lon/lat scene written 0..360', () => {
  // 1° pixels from 0° to 360°: an area over America (-100..-90) lies at 260..270 on it.
  const global = { info: { geoTransform: [0, 1, 0, 90, 0, -1], width: 360, height: 180, crs: crsFromEpsg(4326) }, earthBounds: () => undefined } as unknown as RasterReader;

  it('places an area given in -180..180 (it was refused as not intersecting the dataset)', async () => {
    const placed = await placeArea(global, spec, undefined, [-100, 10, -90, 20], {});
    expect(placed!.window).toEqual({ x: 260, y: 70, width: 10, height: 10 });
  });

  it('still refuses an area off the scene, and one over the limit', async () => {
    // 179..181 in 1/64° pixels (exact in binary), across the antimeridian.
    const narrow = { info: { geoTransform: [179, 1 / 64, 0, -16, 0, -1 / 64], width: 128, height: 64, crs: crsFromEpsg(4326) }, earthBounds: () => undefined } as unknown as RasterReader;
    await expect(placeArea(narrow, spec, undefined, [10, 10, 11, 11], {})).rejects.toThrow(/^the area does not overlap the dataset's pixels/);
    expect((await placeArea(narrow, spec, undefined, [-179.5, -16.5, -179.25, -16.25], {}))!.window).toEqual({ x: 96, y: 16, width: 16, height: 16 });
    await expect(placeArea(global, spec, undefined, [-100, 10, -90, 20], { maxAreaKm2: 100 })).rejects.toThrow(/^the area is \d+\.\d km², over the 100 km² limit/);
  });
});
