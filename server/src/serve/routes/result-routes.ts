/**
 * /results: class masks as palette tiles, the COG itself (ranged, for GDAL and QGIS), polygons
 * (GeoJSON, FlatGeobuf, vector tiles), class lookups and statistics.
 */
import fs from 'node:fs';
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { resultClasses, type ResultRecord } from '../../catalog/result-catalog.ts';
import type { ServerContext } from '../server-context.ts';
import { hexToRgb } from '../../infer/model-spec.ts';
import { serveFile } from '../file-response.ts';
import { registerTiler, type TileLayer } from '../tiler-factory.ts';
import { ClassRenderer, parseClassFilter, parseOpacity, type ClassStyle } from '../tiles/class-renderer.ts';
import { ChangeStatisticsDoc, ClassStatistics, ClassStyleQuery, ResultListQuery, IdParams, LonLatQuery, Result, ResultList, ResultPoint } from '../api-schemas.ts';
import { bearer, describePage, errors, jsonResponse, partialContent } from '../openapi.ts';
import { inUseError, redactPaths, RequestError, oneLine } from '../../errors.ts';
import { keepParams } from './dataset-routes.ts';

/**
 * A run's summary as a client may see it: the CLI's and workers' summaries name files by their
 * paths on the machine that ran them (probe: "/tmp/…/data/results/<id>/mask.tif", and a worker's
 * own "input" served as it sent it), and the server's peak memory. Paths become file names; the
 * memory figure stays in the log.
 */
function publicSummary(value: unknown): unknown {
  if (typeof value === 'string') return redactPaths(value);
  if (Array.isArray(value)) return value.map(publicSummary);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).filter(([k]) => k !== 'peakRssMb').map(([k, v]) => [k, publicSummary(v)]));
}

export async function describeResult(ctx: ServerContext, r: ResultRecord, base: string): Promise<z.infer<typeof Result>> {
  const url = `${base}/results/${r.id}`;
  const reader = await ctx.results.open(r.id);
  const { info } = reader;
  const extent = reader.webExtent();
  return {
    id: r.id,
    name: r.name,
    kind: r.kind,
    dataset: r.datasetId,
    model: r.modelId,
    created_at: r.createdAt,
    classes: resultClasses(r),
    width: info.width,
    height: info.height,
    crs: { epsg: info.crs.epsg ?? null, name: info.crs.name },
    bounds: extent.bounds,
    center: extent.center,
    minzoom: extent.minzoom,
    maxzoom: extent.maxzoom,
    summary: r.summary && (publicSummary(r.summary) as Record<string, unknown>),
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

const COG_TYPE = 'image/tiff; application=geotiff; profile=cloud-optimized';

/**
 * The transition codes a change tile draws: ?to=water, ?from=vegetation&to=bare (class names or
 * ids of the compared model), changed pixels only unless ?unchanged=true; or ?classes= naming
 * transitions directly.
 */
function changeFilter(q: URLSearchParams, r: ResultRecord): Set<number> {
  if (q.has('classes')) {
    // Either way of naming transitions, not both: ?classes=8&to=water drew class 8 and ignored `to`.
    const also = ['from', 'to', 'unchanged'].filter((k) => q.has(k));
    if (also.length) throw new RequestError(`give classes (transition codes or names) or from/to/unchanged, not both (got classes and ${also.join(', ')})`);
    return parseClassFilter(q.get('classes') ?? undefined, r.classes);
  }
  const names = (r.summary?.change_classes as string[] | undefined) ?? [];
  const n = names.length;
  const side = (key: 'from' | 'to') => {
    const text = q.get(key);
    return text ? parseClassFilter(text, names) : new Set(names.map((_, i) => i));
  };
  const from = side('from');
  const to = side('to');
  const unchanged = q.get('unchanged') === 'true';
  const codes = new Set<number>();
  for (const f of from) for (const t of to) if (unchanged || f !== t) codes.add(f * n + t);
  // ?from=water&to=water alone drew an empty tile, without a word.
  if (!codes.size) throw new RequestError(`from ${q.get('from')} to ${q.get('to')} names only unchanged pixels, which are drawn with unchanged=true`);
  return codes;
}

export function registerResultRoutes(app: OpenAPIHono, ctx: ServerContext): void {
  const base = (c: Context) => ctx.base(c);

  app.openapi(createRoute({
    method: 'get', path: '/results', tags: ['result'], operationId: 'listResults', summary: 'Segmentation and change results, newest first, a page at a time',
    request: { query: ResultListQuery },
    responses: { 200: jsonResponse(ResultList, 'results'), ...errors(400) },
  }), async (c) => {
    // Paged: every job adds a result.
    const { items, total, next } = await describePage(ctx.results, c.req.valid('query'), (r) => describeResult(ctx, r, base(c))
      .catch((err: unknown) => ({ id: r.id, name: r.name, usable: false as const, error: oneLine(err) })), `${base(c)}/results`);
    return c.json({ results: items, total, next }, 200);
  });

  app.openapi(createRoute({
    method: 'get', path: '/results/{id}', tags: ['result'], operationId: 'getResult', summary: 'A result: classes, model, bounds, statistics, links',
    request: { params: IdParams },
    responses: { 200: jsonResponse(Result, 'result'), ...errors(400, 404, 422) },
  }), async (c) => c.json(await describeResult(ctx, ctx.results.get(c.req.valid('param').id), base(c)), 200));

  app.openapi(createRoute({
    method: 'delete', path: '/results/{id}', tags: ['result'], operationId: 'deleteResult', security: bearer, summary: 'Remove a result and its files',
    request: { params: IdParams },
    responses: { 204: { description: 'deleted' }, ...errors(400, 401, 404, 409) },
  }), async (c) => {
    const { id } = c.req.valid('param');
    ctx.results.get(id); // 404 before anything is stopped
    // A change job reuses a scene mask from when it is placed (in BullMQ mode, while it waits in
    // the queue): deleted under it, the job failed after minutes of work with "no such file".
    const using = ctx.jobStore.withStatus('queued', 'running').filter((j) => j.extraResults?.before === id || j.extraResults?.after === id);
    if (using.length) throw inUseError('result', id, using);
    // Polygons being made stop first, so none is renamed into the folder as it goes.
    ctx.vectors.forget(id);
    await ctx.results.remove(id);
    ctx.tiles.dropPrefix(`r:${id}:`);
    return c.body(null, 204);
  });

  app.openapi(createRoute({
    method: 'get', path: '/results/{id}/mask.tif', tags: ['result'], operationId: 'resultMask',
    summary: 'The mask COG; Range (206, 416), ETag, Last-Modified and 304, so GDAL and QGIS read it in place',
    request: { params: IdParams },
    responses: {
      200: { description: 'the COG', content: { 'image/tiff': { schema: z.string().openapi({ format: 'binary' }) } } },
      206: partialContent('image/tiff'), 304: { description: 'not modified' }, ...errors(400, 404, 416),
    },
  }), (c) => {
    const r = ctx.results.get(c.req.valid('param').id);
    return serveFile(ctx.results.file(r, 'mask'), c.req.raw, COG_TYPE, `${r.name}-mask.tif`) as never;
  });

  app.openapi(createRoute({
    method: 'get', path: '/results/{id}/stats.json', tags: ['result'], operationId: 'resultStatistics',
    summary: 'Per-class pixel counts, areas (m²) and shares; for a change result, the transition matrix and per-class gains and losses',
    request: { params: IdParams },
    responses: { 200: jsonResponse(z.union([ClassStatistics, ChangeStatisticsDoc]), 'statistics (ClassStatistics, or ChangeStatistics for a change result)'), ...errors(400, 404) },
  }), (c) => {
    const r = ctx.results.get(c.req.valid('param').id);
    const file = ctx.results.file(r, 'stats');
    if (!fs.existsSync(file)) {
      const summary = r.summary as { statistics?: unknown } | null;
      return c.json({ result: r.id, ...(summary?.statistics as object ?? { classes: null }) } as z.infer<typeof ClassStatistics>, 200);
    }
    return serveFile(file, c.req.raw, 'application/json') as never;
  });

  app.openapi(createRoute({
    method: 'get', path: '/results/{id}/point', tags: ['result'], operationId: 'resultPoint', summary: 'The class at a point',
    request: { params: IdParams, query: LonLatQuery },
    responses: { 200: jsonResponse(ResultPoint, 'class'), ...errors(400, 404, 422) },
  }), async (c) => {
    const r = ctx.results.get(c.req.valid('param').id);
    const { lon, lat } = c.req.valid('query');
    const reader = await ctx.results.open(r.id);
    const p = await reader.point(lon, lat);
    const id = p.values[0]!;
    const valid = p.valid && id < r.classes.length;
    return c.json({ lon, lat, pixel: p.pixel, class_id: valid ? id : null, class: valid ? r.classes[id]! : null, color: valid ? r.colors[id] ?? null : null, nodata: !valid }, 200);
  });

  // The layer carries the record it was opened from: a tile request reads it once, not per hook.
  registerTiler<ClassStyle, TileLayer & { record: ResultRecord }>(app, { tiles: ctx.tiles, base }, {
    prefix: '/results',
    tag: 'result',
    cacheKey: 'r',
    formats: ['png', 'webp'],
    styleQuery: ClassStyleQuery,
    open: async (id) => {
      const r = ctx.results.get(id);
      return { reader: await ctx.results.open(id), name: r.name, description: `${r.modelId} classes: ${r.classes.join(', ')}`, record: r };
    },
    style: ({ record: r }, q) => {
      const changeOnly = ['from', 'to', 'unchanged'].filter((k) => q.has(k));
      if (r.kind !== 'change' && changeOnly.length) throw new RequestError(`${changeOnly.join(', ')} filter${changeOnly.length === 1 ? 's' : ''} change results; ${r.id} is a segmentation result (use classes=)`);
      const visible = r.kind === 'change' ? changeFilter(q, r) : parseClassFilter(q.get('classes') ?? undefined, r.classes);
      return { colors: r.colors.map(hexToRgb), visible, alpha: parseOpacity(q.get('opacity') ?? undefined) };
    },
    styleKey: (s) => `${[...s.visible].join(',')}:${s.alpha}`,
    styleQueryString: (q) => keepParams(q, ['classes', 'opacity', 'from', 'to', 'unchanged']),
    renderer: (s) => new ClassRenderer(s),
    tileJsonExtras: ({ record: r }) => {
      return { legend: r.classes.map((name, i) => ({ id: i, name, color: r.colors[i] ?? '#000000' })) };
    },
  });
}
