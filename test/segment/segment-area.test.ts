/**
 * Areas as users hand them in: a Polygon, a Feature, or a FeatureCollection (what most tools
 * export), whose overlapping parts must count once, inside, not cancel out.
 */
import { describe, expect, it } from 'vitest';
import * as turf from '@turf/turf';
import { areaOnGrid, nearDataset, parseArea, repairArea, vertexCount } from '../../server/src/segment/segment-area.ts';
import { crsFromEpsg } from '../../server/src/read/crs.ts';
import { AreaError } from '../../server/src/errors.ts';

const square = (w: number, s: number, e: number, n: number) => turf.bboxPolygon([w, s, e, n]).geometry;
const feature = (geometry: unknown) => ({ type: 'Feature', properties: {}, geometry });

describe('areas from a FeatureCollection', () => {
  // Two squares overlapping on a quarter of each, and one apart.
  const collection = {
    type: 'FeatureCollection',
    features: [feature(square(10, 10, 10.2, 10.2)), feature(square(10.1, 10.1, 10.3, 10.3)), feature({ type: 'MultiPolygon', coordinates: [square(10.5, 10, 10.6, 10.1).coordinates] })],
  };

  it('joins the features, dissolving the overlaps', () => {
    const parsed = parseArea(collection, undefined)!;
    expect(parsed.type).toBe('MultiPolygon');
    const { area, repaired } = repairArea(parsed);
    expect(repaired).toBe(true);
    expect(area.type).toBe('MultiPolygon');
    expect(area.coordinates).toHaveLength(2);
    const union = turf.area(square(10, 10, 10.2, 10.2)) + turf.area(square(10.1, 10.1, 10.3, 10.3)) - turf.area(square(10.1, 10.1, 10.2, 10.2)) + turf.area(square(10.5, 10, 10.6, 10.1));
    expect(turf.area(area) / union).toBeCloseTo(1, 6);
  });

  it('counts the overlap inside when the area is placed on a grid', () => {
    // 0.01° pixels over 10-10.6° E, 10-10.3° N.
    const { area } = repairArea(parseArea(collection, undefined)!);
    const placed = areaOnGrid(area, [10, 0.01, 0, 10.3, 0, -0.01], 60, 30, crsFromEpsg(4326))!;
    const mask = placed.mask(0, placed.window.height, placed.window.width);
    const inside = mask.reduce((n, v) => n + v, 0);
    // 20 x 20 + 20 x 20 - 10 x 10 + 10 x 10 pixels.
    expect(inside).toBe(800);
  });

  it('drops a hole that lies outside its shell, and says it repaired the area', () => {
    const shell = [[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]];
    const outside = [[2, 2], [2, 3], [3, 3], [3, 2], [2, 2]];
    expect(repairArea({ type: 'Polygon', coordinates: [shell, outside] })).toEqual({ area: { type: 'Polygon', coordinates: [shell] }, repaired: true });
  });

  it('leaves parts that do not overlap as they are', () => {
    const apart = parseArea({ type: 'FeatureCollection', features: [feature(square(0, 0, 1, 1)), feature(square(2, 0, 3, 1))] }, undefined)!;
    expect(repairArea(apart)).toEqual({ area: apart, repaired: false });
  });

  it('refuses a collection without polygons, naming the feature', () => {
    expect(() => parseArea({ type: 'FeatureCollection', features: [] }, undefined)).toThrow(AreaError);
    expect(() => parseArea({ type: 'FeatureCollection', features: [feature(square(0, 0, 1, 1)), feature({ type: 'Point', coordinates: [0, 0] })] }, undefined))
      .toThrow(/feature 1 of the FeatureCollection is a Point; only Polygon and MultiPolygon features make an area/);
    expect(() => parseArea({ type: 'FeatureCollection', features: [{ type: 'Feature', geometry: null }] }, undefined)).toThrow(/feature 0 .* not a Feature with a geometry/);
  });
});

describe('areas larger than the reach of the dataset\'s CRS', () => {
  it('places a world box on a UTM scene as the whole scene', () => {
    // 300 x 200 px of 10 m in UTM 33N: [180, 0] is beyond what the zone's projection can take.
    const world = parseArea(undefined, [-180, -90, 180, 90])!;
    const placed = areaOnGrid(world, [500000, 10, 0, 5000000, 0, -10], 300, 200, crsFromEpsg(32633))!;
    expect(placed.window).toEqual({ x: 0, y: 0, width: 300, height: 200 });
    expect(placed.mask(0, 200, 300).every((v) => v === 1)).toBe(true);
  });

  it('keeps every pixel of a Web Mercator grid that reaches 85° N and S inside a world box', () => {
    // 180 x 170 px over 90° W-90° E and about 85° S-85° N (near the poles a widened outline of the
    // grid, scaled along rhumb lines, folded over itself and lost pixels).
    const W = 180, H = 170;
    const top = 19_971_868;
    const placed = areaOnGrid(parseArea(undefined, [-180, -90, 180, 90])!, [-10_018_754, 20_037_508 / 180, 0, top, 0, (-2 * top) / H], W, H, crsFromEpsg(3857))!;
    expect(placed.window).toEqual({ x: 0, y: 0, width: W, height: H });
    expect(placed.mask(0, H, W).every((v) => v === 1)).toBe(true);
  });

  it('cuts a huge area near a lon/lat scene before placing it, keeping every pixel inside', () => {
    // A 5,000 km circle of 10,000 vertices around 200 x 100 px of 0.001°: placed whole, its edges
    // far away were densified and carried through the job (1 s and 350 MB before the first tile).
    const gt: [number, number, number, number, number, number] = [10, 0.001, 0, 45.1, 0, -0.001];
    const circle = turf.circle([10.1, 45.05], 5000, { steps: 9998, units: 'kilometers' }).geometry;
    const near = nearDataset(circle, gt, 200, 100, crsFromEpsg(4326))!;
    expect(vertexCount(circle)).toBeGreaterThan(9000);
    expect(vertexCount(near)).toBeLessThan(10);
    const placed = areaOnGrid(circle, gt, 200, 100, crsFromEpsg(4326))!;
    expect(placed.window).toEqual({ x: 0, y: 0, width: 200, height: 100 });
    expect(placed.mask(0, 100, 200).every((v) => v === 1)).toBe(true);
  });

  it('still finds no overlap for an unplaceable area far from the scene', () => {
    const far = parseArea(undefined, [100, -60, 180, -10])!;
    expect(areaOnGrid(far, [500000, 10, 0, 5000000, 0, -10], 300, 200, crsFromEpsg(32633))).toBeNull();
  });
});

describe('areas that enclose nothing', () => {
  it('refuses a ring of one repeated point, or of points along one meridian', () => {
    const spot = { type: 'Polygon', coordinates: [Array.from({ length: 50 }, () => [10, 10])] };
    // One point repeated is no ring at all.
    expect(() => repairArea(parseArea(spot, undefined)!)).toThrow(/area ring 0: a ring needs at least 3 different positions/);
    const line = { type: 'Polygon', coordinates: [[[10, 10], [10, 10.1], [10, 10.2], [10, 10]]] };
    expect(() => repairArea(parseArea(line, undefined)!)).toThrow(/the polygon encloses no ground/);
  });
});


describe('repairing an area within a budget', () => {
  it('names the vertex count and both ways out when the budget runs out (a 2M-vertex circle, which crosses nothing, was called "too many self-intersections")', async () => {
    const ring: number[][] = [];
    for (let i = 0; i < 1000; i++) ring.push([13 + 0.01 * Math.cos((2 * Math.PI * i) / 1000), 45 + 0.01 * Math.sin((2 * Math.PI * i) / 1000)]);
    ring.push(ring[0]!);
    const { repairAreaBounded } = await import('../../server/src/segment/area-repair.ts');
    await expect(repairAreaBounded({ type: 'Polygon', coordinates: [ring] }, { timeoutMs: 1 }))
      .rejects.toThrow('the area (1,001 vertices) could not be checked and repaired within 0.001 s: simplify it to fewer vertices, or draw it again without crossing edges');
    // With time, the same circle passes unchanged.
    expect((await repairAreaBounded({ type: 'Polygon', coordinates: [ring] })).repaired).toBe(false);
  });
});

describe('holes of an area', () => {
  // A 0.01° square; each hole as a client might draw it.
  const shell = [[0, 0], [0.01, 0], [0.01, 0.01], [0, 0.01], [0, 0]];
  const square = turf.area(turf.polygon([shell]));
  const share = (coords: number[][][]) => {
    const r = repairArea({ type: 'Polygon', coordinates: coords } as never);
    return { repaired: r.repaired, share: Math.round((turf.area(r.area as never) / square) * 1000) / 1000 };
  };

  it('leaves out a hole inside the ring, as drawn', () => {
    expect(share([shell, [[0.002, 0.002], [0.002, 0.004], [0.004, 0.004], [0.004, 0.002], [0.002, 0.002]]])).toEqual({ repaired: false, share: 0.96 });
  });

  it('is the ring less its holes when a hole crosses or touches the ring (the repair joined them into the area), or lies outside it (filling added it)', () => {
    // Half of a 0.01 x 0.002 hole lies inside: 10 % less.
    expect(share([shell, [[0.005, 0.002], [0.005, 0.004], [0.015, 0.004], [0.015, 0.002], [0.005, 0.002]]])).toEqual({ repaired: true, share: 0.9 });
    // A 0.002 x 0.003 hole on the ring's edge: 6 % less.
    expect(share([shell, [[0.004, 0], [0.004, 0.003], [0.006, 0.003], [0.006, 0], [0.004, 0]]])).toEqual({ repaired: true, share: 0.94 });
    // Outside: the ring alone.
    expect(share([shell, [[0.02, 0.02], [0.02, 0.03], [0.03, 0.03], [0.03, 0.02], [0.02, 0.02]]])).toEqual({ repaired: true, share: 1 });
  });
});

describe('repeated positions', () => {
  it('drops a position repeated right after itself (common in exports; it was refused as an unrepairable crossing)', () => {
    const ring = [[0, 0], [0.01, 0], [0.01, 0], [0.01, 0.01], [0, 0.01], [0, 0.01], [0, 0]];
    const parsed = parseArea({ type: 'Polygon', coordinates: [ring] }, undefined)!;
    expect(parsed.type === 'Polygon' && parsed.coordinates[0]).toEqual([[0, 0], [0.01, 0], [0.01, 0.01], [0, 0.01], [0, 0]]);
    expect(repairArea(parsed).repaired).toBe(false);
    expect(() => parseArea({ type: 'Polygon', coordinates: [[[0, 0], [1, 1], [1, 1], [0, 0]]] }, undefined)).toThrow('area ring 0: a ring needs at least 3 different positions');
  });
});

describe('the antimeridian', () => {
  it('refuses a ring with an edge spanning more than 180° (it was read as the band the long way round), and takes the two sides split at 180°', () => {
    const across = { type: 'Polygon', coordinates: [[[170, 40], [-170, 40], [-170, 41], [170, 41], [170, 40]]] };
    expect(() => parseArea(across, undefined)).toThrow(/area ring 0: the edge from \[170, 40\] to \[-170, 40\] spans more than 180° of longitude; split an area that crosses the antimeridian there/);
    const split = { type: 'MultiPolygon', coordinates: [
      [[[170, 40], [180, 40], [180, 41], [170, 41], [170, 40]]],
      [[[-180, 40], [-170, 40], [-170, 41], [-180, 41], [-180, 40]]],
    ] };
    expect(parseArea(split, undefined)!.type).toBe('MultiPolygon');
  });

  it('places an area on a lon/lat raster written past ±180: 0..360, and across the antimeridian (it was "no overlap")', () => {
    // A 0..360 raster of 1° pixels: an area over America (-100..-90) is its columns 260..270.
    const global = areaOnGrid(parseArea(undefined, [-100, 10, -90, 20])!, [0, 1, 0, 90, 0, -1], 360, 180, crsFromEpsg(4326))!;
    expect(global.window).toEqual({ x: 260, y: 70, width: 10, height: 10 });
    expect(Array.from(global.mask(0, 1, 10))).toEqual(Array(10).fill(1));
    // 179.9..180.1 in 0.01° pixels, and an area split at the antimeridian as RFC 7946 asks.
    const split = parseArea({ type: 'MultiPolygon', coordinates: [
      [[[179.95, -17.05], [180, -17.05], [180, -16.95], [179.95, -16.95], [179.95, -17.05]]],
      [[[-180, -17.05], [-179.93, -17.05], [-179.93, -16.95], [-180, -16.95], [-180, -17.05]]],
    ] }, undefined)!;
    const across = areaOnGrid(split, [179.9, 0.01, 0, -16.9, 0, -0.01], 20, 20, crsFromEpsg(4326))!;
    // Pixel centres inside: columns 5..16 (179.955..180.065), rows 5..14, both sides of the line.
    const { x, y, width, height } = across.window;
    const inside = across.mask(0, height, width);
    for (let r = 0; r < height; r++) {
      for (let c = 0; c < width; c++) expect(inside[r * width + c]).toBe(x + c >= 5 && x + c <= 16 && y + r >= 5 && y + r <= 14 ? 1 : 0);
    }
  });
});
