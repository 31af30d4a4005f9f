/**
 * What a tile server, a job or a CLI asks of a raster, in rio-tiler's vocabulary: info,
 * statistics, tile(z, x, y), part(window | bbox) and point(lon, lat). Each answer carries its
 * pixels with their validity mask, bounds and CRS, so nothing downstream asks where they came from.
 *
 * A reader wraps any RasterSource (a GeoTIFF from a file or a URL); one reader per open source.
 */
import type { RasterSource } from './raster-source.ts';
import { checkOnEarth, longitudeWrap, normalizeLonLatBox, pixelToCrs } from './georef.ts';
import type { Crs, PixelBlock, RasterInfo, Window } from './raster.ts';
import { computeStatistics, type StatisticsResult } from './band-statistics.ts';
import { boundsWgs84, converter, transformableProj4, transformPoint, WGS84 } from './crs-transform.ts';
import { crsToPixel } from './georef.ts';
import { groundPixelMetres, zoomForResolution } from './geodesy.ts';
import { tileBounds3857, tileBoundsWgs84, WEB_MERCATOR_CRS } from './web-mercator.ts';
import { warpTile, type Resampling } from './warp-tile.ts';
import { DEFAULT_RASTER_LIMITS } from './raster-limits.ts';
import { RasterError } from '../errors.ts';

export type LonLatBox = [number, number, number, number];

export interface WebExtent {
  /** [west, south, east, north] in EPSG:4326; null when the raster cannot be placed on Earth. */
  bounds: LonLatBox | null;
  center: [number, number, number] | null;
  minzoom: number;
  maxzoom: number;
}

/** A Web Mercator tile of a raster: one plane per band, its validity, where it is. */
export interface TileImage {
  z: number;
  x: number;
  y: number;
  size: number;
  bands: Float32Array[];
  valid: Uint8Array;
  /** The source level the pixels came from (0 = full resolution). */
  level: number;
  /** [minx, miny, maxx, maxy] in EPSG:3857. */
  bounds: [number, number, number, number];
  crs: Crs;
}

export interface PointValue {
  lon: number;
  lat: number;
  pixel: { x: number; y: number };
  valid: boolean;
  /** One value per band asked for. */
  values: number[];
}

export interface TileOptions {
  bands: number[];
  resampling: Resampling;
  signal?: AbortSignal;
}

export function intersects(a: LonLatBox, b: LonLatBox): boolean {
  return a[0] < b[2] && a[2] > b[0] && a[1] < b[3] && a[3] > b[1];
}

export class RasterReader {
  private extent: WebExtent | null = null;
  private checkedOnEarth = false;
  /** Most source pixels one tile may read; the server sets its own (Limits.admit). */
  tileReadLimit = DEFAULT_RASTER_LIMITS.maxTileReadPixels;

  constructor(readonly source: RasterSource) {}

  get info(): RasterInfo {
    return this.source.info;
  }

  get version(): string {
    return this.source.version;
  }

  /**
   * Ground size of a pixel in metres: its finer side, measured through the projection (a Web
   * Mercator pixel at 60° N covers half its size in metres; a lon/lat one is narrower than tall).
   */
  get resolutionMetres(): number {
    const { x, y } = groundPixelMetres(this.info.geoTransform, this.info, this.info.crs);
    return Math.min(x, y);
  }

  /** Bounds, centre and the zoom range a web map should use; worked out once per source. */
  webExtent(): WebExtent {
    this.extent ??= computeWebExtent(this.info, this.resolutionMetres);
    return this.extent;
  }

  /** The EPSG:4326 bounds; throws when the raster cannot be placed on Earth. */
  earthBounds(): LonLatBox {
    // Checked once, not on every tile that asks for the bounds (it throws until it passes).
    if (!this.checkedOnEarth) {
      checkOnEarth(this.info);
      this.checkedOnEarth = true;
    }
    const { bounds } = this.webExtent();
    if (!bounds) {
      throw new RasterError('not-on-earth', this.info.crs.nonEarth
        ? `this raster is not on Earth (${this.info.crs.name}); it cannot be shown on a web map or placed with lon/lat`
        : 'this raster cannot be placed on Earth: its extent does not transform to a lon/lat box (check its geotransform and CRS)');
    }
    return bounds;
  }

  statistics(): Promise<StatisticsResult> {
    return computeStatistics(this.source);
  }

  /** A 256-px Web Mercator tile; null when the tile does not touch the raster. */
  async tile(z: number, x: number, y: number, opts: TileOptions): Promise<TileImage | null> {
    if (!intersects(tileBoundsWgs84(z, x, y), this.earthBounds())) return null;
    const warped = await warpTile(this.source, z, x, y, { maxReadPixels: this.tileReadLimit, ...opts });
    if (!warped) return null;
    return { ...warped, z, x, y, bounds: tileBounds3857(z, x, y), crs: WEB_MERCATOR_CRS };
  }

  /** Pixels of a window (level 0 pixels) or of a lon/lat box, at full resolution or an overview. */
  part(region: Window | { bbox: LonLatBox }, opts: { bands?: number[]; level?: number; signal?: AbortSignal } = {}): Promise<PixelBlock> {
    const window = 'bbox' in region ? this.windowOf(region.bbox) : region;
    return this.source.read(window, opts);
  }

  /** The pixel window (level 0) covering a lon/lat box, clipped to the raster. */
  windowOf(bbox: LonLatBox): Window {
    this.earthBounds();
    const { info } = this;
    const conv = converter(WGS84, transformableProj4(info.crs));
    // The box as a whole toward the raster's middle (one written past ±180), never corner by corner.
    const wrap = longitudeWrap(info);
    const dx = wrap((bbox[0] + bbox[2]) / 2) - (bbox[0] + bbox[2]) / 2;
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    const steps = 8;
    for (let i = 0; i <= steps; i++) {
      const t = i / steps;
      for (const [lon, lat] of [[bbox[0] + t * (bbox[2] - bbox[0]), bbox[1]], [bbox[0] + t * (bbox[2] - bbox[0]), bbox[3]], [bbox[0], bbox[1] + t * (bbox[3] - bbox[1])], [bbox[2], bbox[1] + t * (bbox[3] - bbox[1])]] as const) {
        const p = transformPoint(conv, lon, lat);
        if (!p) continue;
        const [c, r] = crsToPixel(info.geoTransform, p[0] + dx, p[1]);
        x0 = Math.min(x0, c); x1 = Math.max(x1, c); y0 = Math.min(y0, r); y1 = Math.max(y1, r);
      }
    }
    const left = Math.max(0, Math.floor(x0));
    const top = Math.max(0, Math.floor(y0));
    const right = Math.min(info.width, Math.ceil(x1));
    const bottom = Math.min(info.height, Math.ceil(y1));
    if (!(right > left && bottom > top)) throw new RasterError('outside', `the box [${bbox.join(', ')}] does not overlap the raster`);
    return { x: left, y: top, width: right - left, height: bottom - top };
  }

  /** The values under a lon/lat; a RasterError 'outside' when the point is not on the raster. */
  async point(lon: number, lat: number, opts: { bands?: number[]; signal?: AbortSignal } = {}): Promise<PointValue> {
    const { info } = this;
    if (info.crs.nonEarth) throw new RasterError('not-on-earth', 'this raster is not on Earth; lon/lat has no meaning here');
    const p = transformPoint(converter(WGS84, transformableProj4(info.crs)), lon, lat);
    const [col, row] = p ? crsToPixel(info.geoTransform, longitudeWrap(info)(p[0]), p[1]) : [Number.NaN, Number.NaN];
    const x = Math.floor(col);
    const y = Math.floor(row);
    if (!(x >= 0 && y >= 0 && x < info.width && y < info.height)) throw new RasterError('outside', `(${lon}, ${lat}) is outside the raster`);
    const block = await this.source.read({ x, y, width: 1, height: 1 }, opts);
    return { lon, lat, pixel: { x, y }, valid: block.valid[0] === 1, values: block.bands.map((b) => Number(b[0])) };
  }

  close(): Promise<void> {
    return this.source.close();
  }
}

function computeWebExtent(info: RasterInfo, resolution: number): WebExtent {
  const raw = boundsWgs84(info.geoTransform, info.width, info.height, info.crs);
  // Within ±180 for web maps and WMTS (which refuses a layer box past it).
  const bounds = raw && normalizeLonLatBox(raw);
  // A box that collapses (pixels of 1e-300 m make west equal east) places nothing: no bounds,
  // as for an extent that does not transform at all.
  if (!bounds || !(bounds[0] < bounds[2] && bounds[1] < bounds[3])) return { bounds: null, center: null, minzoom: 0, maxzoom: 0 };
  const lat = (bounds[1] + bounds[3]) / 2;
  const maxzoom = zoomForResolution(resolution, lat);
  const coarsest = resolution * (info.overviews.length ? info.width / info.overviews[info.overviews.length - 1]!.width : 1);
  const minzoom = Math.max(0, Math.min(maxzoom, zoomForResolution(coarsest, lat) - 3));
  // The raster's middle pixel: a box across the antimeridian is the whole band, whose middle (0°)
  // is half a turn from the raster.
  const [mx, my] = pixelToCrs(info.geoTransform, info.width / 2, info.height / 2);
  const middle = transformPoint(converter(transformableProj4(info.crs), WGS84), mx, my)?.[0] ?? (bounds[0] + bounds[2]) / 2;
  return { bounds, center: [middle - 360 * Math.round(middle / 360), lat, Math.min(maxzoom, Math.max(minzoom, maxzoom - 2))], minzoom, maxzoom };
}
