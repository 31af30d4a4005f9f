/**
 * /datasets: the GeoTIFFs of the data folder and uploads, their metadata, map tiles and pixel values.
 */
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { IncomingMessage } from 'node:http';
import type { RasterSource } from '../../read/raster-source.ts';
import { boundsWgs84, converter, transformableProj4, transformPoint, WGS84 } from '../../read/crs-transform.ts';
import { crsToPixel, groundResolutionMetres } from '../../read/georef.ts';
import type { ServerContext } from '../server-context.ts';
import { HttpError } from '../http-error.ts';
import { idParam, lonLatQuery, parseWith } from '../request-validation.ts';
import { parseTileAddress, tileResponse } from '../tile-response.ts';
import { ImageryRenderer, imageryStyle, parseBands, parseRescale } from '../tiles/imagery-renderer.ts';
import { tileBoundsWgs84, zoomForResolution } from '../tiles/web-mercator.ts';
import { receiveUpload } from '../receive-upload.ts';
import { requireApiKey } from '../api-key.ts';

export interface WebExtent {
  bounds: [number, number, number, number] | null;
  center: [number, number, number] | null;
  minzoom: number;
  maxzoom: number;
}

// Every tile request asks; the answer is fixed for an open source and takes proj4 a tenth of a
// millisecond to work out.
const extents = new WeakMap<RasterSource, WebExtent>();

/** Bounds, centre and the zoom range a web map should use for a raster. */
export function webExtent(source: RasterSource): WebExtent {
  let extent = extents.get(source);
  if (!extent) {
    extent = computeWebExtent(source);
    extents.set(source, extent);
  }
  return extent;
}

function computeWebExtent(source: RasterSource): WebExtent {
  const { info } = source;
  const bounds = boundsWgs84(info.geoTransform, info.width, info.height, info.crs);
  if (!bounds) return { bounds: null, center: null, minzoom: 0, maxzoom: 0 };
  const lat = (bounds[1] + bounds[3]) / 2;
  const res = groundResolutionMetres(info.geoTransform, info.height, info.crs);
  const maxzoom = zoomForResolution(res, lat);
  const coarsest = res * (info.overviews.length ? info.width / info.overviews[info.overviews.length - 1]!.width : 1);
  const minzoom = Math.max(0, Math.min(maxzoom, zoomForResolution(coarsest, lat) - 3));
  return { bounds, center: [(bounds[0] + bounds[2]) / 2, lat, Math.min(maxzoom, Math.max(minzoom, maxzoom - 2))], minzoom, maxzoom };
}

export function intersects(a: [number, number, number, number], b: [number, number, number, number]): boolean {
  return a[0] < b[2] && a[2] > b[0] && a[1] < b[3] && a[3] > b[1];
}

function origin(req: Request): string {
  return new URL(req.url).origin;
}

async function describe(ctx: ServerContext, id: string, req: Request) {
  const record = ctx.datasets.get(id);
  const base = { id, name: record.name, origin: record.origin, added_at: record.addedAt };
  let source: RasterSource;
  try {
    source = await ctx.datasets.open(id);
  } catch (err) {
    return { ...base, usable: false, error: (err as Error).message };
  }
  const { info } = source;
  const extent = webExtent(source);
  const stats = await ctx.datasets.statistics(id).catch(() => null);
  const url = `${origin(req)}/datasets/${id}`;
  return {
    ...base,
    usable: true,
    width: info.width,
    height: info.height,
    band_count: info.bandCount,
    dtype: info.dtype,
    nodata: info.nodata === null ? null : Number.isNaN(info.nodata) ? 'nan' : info.nodata,
    mask: info.maskKind,
    crs: { epsg: info.crs.epsg ?? null, name: info.crs.name, proj4: info.crs.proj4, geographic: info.crs.geographic, non_earth: Boolean(info.crs.nonEarth) },
    geotransform: info.geoTransform,
    resolution_m: groundResolutionMetres(info.geoTransform, info.height, info.crs),
    bounds: extent.bounds,
    center: extent.center,
    minzoom: extent.minzoom,
    maxzoom: extent.maxzoom,
    compression: info.compression,
    block_size: [info.blockWidth, info.blockHeight],
    overviews: info.overviews,
    bands: info.bands.map((b) => ({
      index: b.index,
      description: b.description,
      color_interp: b.colorInterp,
      statistics: stats?.bands[b.index - 1] ?? null,
    })),
    statistics_from: stats ? { level: stats.level, width: stats.sampledWidth, height: stats.sampledHeight } : null,
    links: { self: url, tilejson: `${url}/tilejson.json`, tiles: `${url}/tiles/{z}/{x}/{y}.png`, point: `${url}/point?lon={lon}&lat={lat}` },
  };
}

/** Query parameters that style tiles, kept in TileJSON's tile URL. */
function styleQuery(q: URLSearchParams): string {
  const out = new URLSearchParams();
  for (const key of ['bands', 'rescale']) for (const v of q.getAll(key)) out.append(key, v);
  const s = out.toString();
  return s ? `?${s}` : '';
}

export function registerDatasetRoutes(app: OpenAPIHono, ctx: ServerContext): void {
  app.get('/datasets', async (c) => {
    const list = ctx.datasets.list();
    return c.json({ datasets: await Promise.all(list.map((d) => describe(ctx, d.id, c.req.raw))) });
  });

  app.get('/datasets/:id', async (c) => c.json(await describe(ctx, idParam(c), c.req.raw)));

  app.post('/datasets', async (c) => {
    requireApiKey(c, ctx);
    const env = c.env as { incoming?: IncomingMessage } | undefined;
    const upload = await receiveUpload(c.req.raw, env?.incoming, ctx.dataDir, ctx.uploadLimit);
    let record;
    try {
      record = await ctx.datasets.addUpload(upload.tempPath, upload.filename);
    } catch (err) {
      throw new HttpError(400, 'invalid GeoTIFF', `${upload.filename} was rejected: ${(err as Error).message.split('\n')[0]}`);
    }
    return c.json(await describe(ctx, record.id, c.req.raw), 201);
  });

  app.delete('/datasets/:id', async (c) => {
    requireApiKey(c, ctx);
    const id = idParam(c);
    await ctx.datasets.remove(id);
    ctx.tiles.dropPrefix(`d:${id}:`);
    return c.body(null, 204);
  });

  app.get('/datasets/:id/tilejson.json', async (c) => {
    const id = idParam(c);
    const record = ctx.datasets.get(id);
    const source = await ctx.datasets.open(id);
    const extent = webExtent(source);
    if (!extent.bounds) throw new HttpError(400, 'bad request', `dataset ${id} is not on Earth (${source.info.crs.name}); it cannot be shown on a web map`);
    const q = new URL(c.req.url).searchParams;
    if (q.has('bands')) parseBands(q.get('bands')!, source);
    if (q.has('rescale')) parseRescale(q.getAll('rescale'), q.has('bands') ? parseBands(q.get('bands')!, source).length : 3);
    return c.json({
      tilejson: '3.0.0',
      name: record.name,
      scheme: 'xyz',
      tiles: [`${origin(c.req.raw)}/datasets/${id}/tiles/{z}/{x}/{y}.png${styleQuery(q)}`],
      bounds: extent.bounds,
      center: extent.center,
      minzoom: extent.minzoom,
      maxzoom: extent.maxzoom,
    });
  });

  app.get('/datasets/:id/tiles/:z/:x/:file', async (c) => {
    const id = idParam(c);
    const t = parseTileAddress(c.req.param('z'), c.req.param('x'), c.req.param('file'), ['png', 'webp', 'jpg']);
    const { source, version } = await ctx.datasets.openVersion(id);
    const q = new URL(c.req.url).searchParams;
    const bands = parseBands(q.get('bands') ?? undefined, source);
    const rescale = parseRescale(q.getAll('rescale'), bands.length);
    const extent = webExtent(source);
    if (!extent.bounds) throw new HttpError(400, 'bad request', `dataset ${id} is not on Earth (${source.info.crs.name}); it cannot be shown on a web map`);
    const key = `d:${id}:${version}:${bands.join(',')}:${JSON.stringify(rescale)}:${t.z}/${t.x}/${t.y}.${t.format}`;
    // Awaited before a render slot is taken, so a first view of a new dataset does not hold every
    // slot while its statistics are computed.
    const needsStats = rescale === null && source.info.dtype !== 'uint8';
    const stats = needsStats ? (await ctx.datasets.statistics(id)).bands : null;
    return tileResponse(c.req.raw, ctx.tiles, key, t.format, async () => {
      if (!intersects(tileBoundsWgs84(t.z, t.x, t.y), extent.bounds!)) return null;
      return new ImageryRenderer(source, imageryStyle(source, bands, rescale, stats)).render(t.z, t.x, t.y);
    });
  });

  app.get('/datasets/:id/point', async (c) => {
    const id = idParam(c);
    const { lon, lat } = parseWith(lonLatQuery, c.req.query(), 'point');
    const source = await ctx.datasets.open(id);
    const px = pixelAt(source, lon, lat);
    const block = await source.read({ x: px[0], y: px[1], width: 1, height: 1 });
    return c.json({
      lon, lat, pixel: { x: px[0], y: px[1] },
      valid: block.valid[0] === 1,
      values: block.bands.map((b, i) => ({ band: i + 1, description: source.info.bands[i]!.description, value: Number(b[0]) })),
    });
  });
}

/** The pixel under a lon/lat; 404 when the point is outside the raster. */
export function pixelAt(source: RasterSource, lon: number, lat: number): [number, number] {
  const { info } = source;
  if (info.crs.nonEarth) throw new HttpError(400, 'bad request', 'this raster is not on Earth; lon/lat has no meaning here');
  const p = transformPoint(converter(WGS84, transformableProj4(info.crs)), lon, lat);
  const [col, row] = p ? crsToPixel(info.geoTransform, p[0], p[1]) : [Number.NaN, Number.NaN];
  const x = Math.floor(col);
  const y = Math.floor(row);
  if (!(x >= 0 && y >= 0 && x < info.width && y < info.height)) throw new HttpError(404, 'outside', `(${lon}, ${lat}) is outside the raster`);
  return [x, y];
}
