/**
 * The WebMercatorQuad tile matrix set (EPSG:3857, 256-px tiles, XYZ numbering from the top left).
 */
export const TILE_SIZE = 256;
export const HALF_WORLD = 20037508.342789244;
/** Metres per pixel at zoom 0 on the equator. */
export const Z0_RESOLUTION = (2 * HALF_WORLD) / TILE_SIZE;
export const MAX_ZOOM = 24;

export function tileBounds3857(z: number, x: number, y: number): [number, number, number, number] {
  const size = (2 * HALF_WORLD) / 2 ** z;
  const minx = -HALF_WORLD + x * size;
  const maxy = HALF_WORLD - y * size;
  return [minx, maxy - size, minx + size, maxy];
}

export function mercatorToLonLat(x: number, y: number): [number, number] {
  const lon = (x / HALF_WORLD) * 180;
  const lat = (Math.atan(Math.exp((y / HALF_WORLD) * Math.PI)) * 360) / Math.PI - 90;
  return [lon, lat];
}

export function lonLatToMercator(lon: number, lat: number): [number, number] {
  const clamped = Math.max(-85.05112878, Math.min(85.05112878, lat));
  return [(lon / 180) * HALF_WORLD, Math.log(Math.tan(((90 + clamped) * Math.PI) / 360)) * (HALF_WORLD / Math.PI)];
}

export function tileBoundsWgs84(z: number, x: number, y: number): [number, number, number, number] {
  const [minx, miny, maxx, maxy] = tileBounds3857(z, x, y);
  const [w, s] = mercatorToLonLat(minx, miny);
  const [e, n] = mercatorToLonLat(maxx, maxy);
  return [w, s, e, n];
}

/** The range of tile columns and rows at zoom z that cover a lon/lat box. */
export function tileRange(bounds: [number, number, number, number], z: number): { minX: number; maxX: number; minY: number; maxY: number } {
  const n = 2 ** z;
  const [w, s, e, nLat] = bounds;
  const [x0, y1] = lonLatToMercator(w, s);
  const [x1, y0] = lonLatToMercator(e, nLat);
  const size = (2 * HALF_WORLD) / n;
  const clamp = (v: number) => Math.max(0, Math.min(n - 1, v));
  return {
    minX: clamp(Math.floor((x0 + HALF_WORLD) / size)),
    maxX: clamp(Math.floor((x1 + HALF_WORLD) / size - 1e-9)),
    minY: clamp(Math.floor((HALF_WORLD - y0) / size)),
    maxY: clamp(Math.floor((HALF_WORLD - y1) / size - 1e-9)),
  };
}

/** EPSG:3857's proj4 definition (a sphere: web maps' pseudo-Mercator). */
export const WEB_MERCATOR = '+proj=merc +a=6378137 +b=6378137 +lat_ts=0 +lon_0=0 +x_0=0 +y_0=0 +k=1 +units=m +nadgrids=@null +wktext +no_defs';

/** EPSG:3857 as a Crs value, for tiles that carry their CRS. */
export const WEB_MERCATOR_CRS = {
  epsg: 3857,
  proj4: WEB_MERCATOR,
  name: 'WGS 84 / Pseudo-Mercator',
  geographic: false,
} as const;
