/**
 * /results: segmentation masks as palette tiles, the COG itself (ranged, for GDAL and QGIS),
 * class lookups and statistics.
 */
import fs from 'node:fs';
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { ResultRecord } from '../../catalog/result-catalog.ts';
import type { ServerContext } from '../server-context.ts';
import { hexToRgb } from '../../infer/model-spec.ts';
import { HttpError } from '../http-error.ts';
import { idParam, lonLatQuery, parseWith } from '../request-validation.ts';
import { parseTileAddress, tileResponse } from '../tile-response.ts';
import { serveFile } from '../file-response.ts';
import { requireApiKey } from '../api-key.ts';
import { ClassRenderer, parseClassFilter, parseOpacity } from '../tiles/class-renderer.ts';
import { tileBoundsWgs84 } from '../tiles/web-mercator.ts';
import { intersects, pixelAt, webExtent } from './dataset-routes.ts';

function origin(req: Request): string {
  return new URL(req.url).origin;
}

export async function describeResult(ctx: ServerContext, r: ResultRecord, req: Request) {
  const url = `${origin(req)}/results/${r.id}`;
  const source = await ctx.results.open(r.id);
  const extent = webExtent(source);
  return {
    id: r.id,
    name: r.name,
    dataset: r.datasetId,
    model: r.modelId,
    created_at: r.createdAt,
    classes: r.classes.map((name, i) => ({ id: i, name, color: r.colors[i] })),
    width: source.info.width,
    height: source.info.height,
    crs: { epsg: source.info.crs.epsg ?? null, name: source.info.crs.name },
    bounds: extent.bounds,
    center: extent.center,
    minzoom: extent.minzoom,
    maxzoom: extent.maxzoom,
    summary: r.summary,
    links: {
      self: url,
      tilejson: `${url}/tilejson.json`,
      tiles: `${url}/tiles/{z}/{x}/{y}.png`,
      mask: `${url}/mask.tif`,
      stats: `${url}/stats.json`,
      point: `${url}/point?lon={lon}&lat={lat}`,
      geojson: `${url}/features.geojson`,
      vector_tiles: `${url}/vector/{z}/{x}/{y}.mvt`,
    },
    features_ready: fs.existsSync(ctx.results.file(r, 'features')),
  };
}

export function registerResultRoutes(app: OpenAPIHono, ctx: ServerContext): void {
  app.get('/results', async (c) => c.json({ results: await Promise.all(ctx.results.list().map((r) => describeResult(ctx, r, c.req.raw).catch((err: Error) => ({ id: r.id, name: r.name, usable: false, error: err.message })))) }));

  app.get('/results/:id', async (c) => c.json(await describeResult(ctx, ctx.results.get(idParam(c)), c.req.raw)));

  app.delete('/results/:id', async (c) => {
    requireApiKey(c, ctx);
    const id = idParam(c);
    await ctx.results.remove(id);
    ctx.tiles.dropPrefix(`r:${id}:`);
    ctx.vectors.forget(id);
    return c.body(null, 204);
  });

  app.get('/results/:id/tilejson.json', async (c) => {
    const r = ctx.results.get(idParam(c));
    const source = await ctx.results.open(r.id);
    const extent = webExtent(source);
    if (!extent.bounds) throw new HttpError(400, 'bad request', 'this result is not on Earth; it cannot be shown on a web map');
    const q = new URL(c.req.url).searchParams;
    const keep = new URLSearchParams();
    if (q.has('classes')) { parseClassFilter(q.get('classes')!, r.classes); keep.set('classes', q.get('classes')!); }
    if (q.has('opacity')) { parseOpacity(q.get('opacity')!); keep.set('opacity', q.get('opacity')!); }
    const suffix = keep.toString() ? `?${keep}` : '';
    return c.json({
      tilejson: '3.0.0',
      name: r.name,
      description: `${r.modelId} classes: ${r.classes.join(', ')}`,
      scheme: 'xyz',
      tiles: [`${origin(c.req.raw)}/results/${r.id}/tiles/{z}/{x}/{y}.png${suffix}`],
      bounds: extent.bounds,
      center: extent.center,
      minzoom: extent.minzoom,
      maxzoom: extent.maxzoom,
      legend: r.classes.map((name, i) => ({ id: i, name, color: r.colors[i] })),
      // The same result as vector tiles, one layer per class (GET .../vector/{z}/{x}/{y}.mvt).
      vector_layers: await ctx.vectors.layers(r),
    });
  });

  app.get('/results/:id/features.geojson', async (c) => {
    const r = ctx.results.get(idParam(c));
    return serveFile(await ctx.vectors.features(r), c.req.raw.headers, 'application/geo+json', `${r.name}.geojson`);
  });

  app.get('/results/:id/vector/:z/:x/:file', async (c) => {
    const r = ctx.results.get(idParam(c));
    const m = /^(\d+)\.mvt$/.exec(c.req.param('file'));
    if (!m) throw new HttpError(400, 'bad request', `vector tile must look like {y}.mvt; got "${c.req.param('file')}"`);
    const t = parseTileAddress(c.req.param('z'), c.req.param('x'), `${m[1]}.png`, ['png']);
    const index = await ctx.vectors.tiles(r);
    const bytes = index.tile(t.z, t.x, t.y);
    const headers = { 'Cache-Control': 'public, max-age=3600' };
    if (!bytes) return new Response(null, { status: 204, headers });
    return new Response(new Uint8Array(bytes), { status: 200, headers: { ...headers, 'Content-Type': 'application/vnd.mapbox-vector-tile', 'Content-Length': String(bytes.length) } });
  });

  app.get('/results/:id/tiles/:z/:x/:file', async (c) => {
    const id = idParam(c);
    const t = parseTileAddress(c.req.param('z'), c.req.param('x'), c.req.param('file'), ['png', 'webp']);
    const r = ctx.results.get(id);
    const visible = parseClassFilter(c.req.query('classes'), r.classes);
    const alpha = parseOpacity(c.req.query('opacity'));
    const source = await ctx.results.open(id);
    const extent = webExtent(source);
    if (!extent.bounds) throw new HttpError(400, 'bad request', 'this result is not on Earth; it cannot be shown on a web map');
    const key = `r:${id}:${[...visible].join(',')}:${alpha}:${t.z}/${t.x}/${t.y}.${t.format}`;
    return tileResponse(c.req.raw, ctx.tiles, key, t.format, async () => {
      if (!intersects(tileBoundsWgs84(t.z, t.x, t.y), extent.bounds!)) return null;
      return new ClassRenderer(source, { colors: r.colors.map(hexToRgb), visible, alpha }).render(t.z, t.x, t.y);
    });
  });

  app.get('/results/:id/mask.tif', (c) => {
    const r = ctx.results.get(idParam(c));
    return serveFile(ctx.results.file(r, 'mask'), c.req.raw.headers, 'image/tiff; application=geotiff; profile=cloud-optimized', `${r.name}-mask.tif`);
  });
  app.on('HEAD', '/results/:id/mask.tif', (c) => {
    const r = ctx.results.get(idParam(c));
    const res = serveFile(ctx.results.file(r, 'mask'), c.req.raw.headers, 'image/tiff; application=geotiff; profile=cloud-optimized');
    void res.body?.cancel();
    return new Response(null, { status: res.status, headers: res.headers });
  });

  app.get('/results/:id/stats.json', (c) => {
    const r = ctx.results.get(idParam(c));
    const file = ctx.results.file(r, 'stats');
    if (!fs.existsSync(file)) return c.json({ result: r.id, classes: r.summary?.classStatistics ?? null });
    return serveFile(file, c.req.raw.headers, 'application/json');
  });

  app.get('/results/:id/point', async (c) => {
    const r = ctx.results.get(idParam(c));
    const { lon, lat } = parseWith(lonLatQuery, c.req.query(), 'point');
    const source = await ctx.results.open(r.id);
    const [x, y] = pixelAt(source, lon, lat);
    const block = await source.read({ x, y, width: 1, height: 1 });
    const id = Number(block.bands[0]![0]);
    const valid = block.valid[0] === 1 && id < r.classes.length;
    return c.json({ lon, lat, pixel: { x, y }, class_id: valid ? id : null, class: valid ? r.classes[id] : null, color: valid ? r.colors[id] : null, nodata: !valid });
  });
}
