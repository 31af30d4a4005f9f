/**
 * /datasets: the GeoTIFFs of the data folder, uploads and remote COGs; their metadata, map tiles,
 * pixel values and (for workers) their bytes.
 */
import fs from 'node:fs';
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { IncomingMessage } from 'node:http';
import type { ServerContext } from '../server-context.ts';
import type { DatasetRecord } from '../../catalog/dataset-catalog.ts';
import { receiveUpload } from '../receive-upload.ts';
import { serveFile } from '../file-response.ts';
import { registerTiler } from '../tiler-factory.ts';
import { ImageryRenderer, imageryStyle, parseBands, parseRescale, type ImageryStyle } from '../tiles/imagery-renderer.ts';
import { Dataset, DatasetList, DatasetListQuery, IdParams, ImageryStyleQuery, LonLatQuery, PointValues } from '../api-schemas.ts';
import { bearer, describePage, errors, jsonResponse, partialContent } from '../openapi.ts';
import { z } from '@hono/zod-openapi';
import { inUseError, NotFoundError, RasterError, RequestError, UploadRejected, oneLine } from '../../errors.ts';
import { isStorageError } from '../http-error.ts';

export async function describeDataset(ctx: ServerContext, record: DatasetRecord, base: string): Promise<z.infer<typeof Dataset>> {
  const { id } = record;
  const head = { id, name: record.name, origin: record.origin, added_at: record.addedAt };
  const url = `${base}/datasets/${id}`;
  let reader;
  try {
    reader = await ctx.datasets.open(id);
  } catch (err) {
    return { ...head, usable: false, error: oneLine(err) };
  }
  const { info } = reader;
  // A CRS proj4 refuses (fuzzing: a geostationary view from height 0), or an Earth CRS with no point
  // of the extent in lon/lat (an origin at 1e300): nothing can be drawn or placed, and the dataset
  // is unusable with the reason, not the whole listing an error. A raster of another body has no
  // lon/lat bounds either, and stays usable.
  let extent: ReturnType<typeof reader.webExtent>;
  try {
    extent = reader.webExtent();
    if (!extent.bounds && !info.crs.nonEarth) reader.earthBounds();
  } catch (err) {
    return { ...head, usable: false, error: oneLine(err) };
  }
  let stats = null;
  try {
    stats = await ctx.datasets.statistics(id);
  } catch (err) {
    // Not one sample of its pixels decodes (corrupt blocks, a decompression bomb): unusable, with the reason.
    if (err instanceof RasterError) return { ...head, usable: false, error: err.message.split('\n')[0]! };
  }
  return {
    ...head,
    usable: true,
    width: info.width,
    height: info.height,
    band_count: info.bandCount,
    dtype: info.dtype,
    nodata: info.nodata === null ? null : Number.isNaN(info.nodata) ? 'nan' : info.nodata,
    mask: info.maskKind,
    crs: { epsg: info.crs.epsg ?? null, name: info.crs.name, proj4: info.crs.proj4, geographic: info.crs.geographic, non_earth: Boolean(info.crs.nonEarth) },
    geotransform: info.geoTransform,
    resolution_m: reader.resolutionMetres,
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
      ...(b.scale !== undefined ? { scale: b.scale } : {}),
      ...(b.offset !== undefined ? { offset: b.offset } : {}),
      statistics: stats?.bands[b.index - 1] ?? null,
    })),
    statistics_from: stats ? { level: stats.level, width: stats.sampledWidth, height: stats.sampledHeight } : null,
    notices: info.crs.datumShift ? [info.crs.datumShift.note] : [],
    links: {
      self: url,
      tilejson: `${url}/tilejson.json`,
      tiles: `${url}/tiles/{z}/{x}/{y}.png`,
      point: `${url}/point?lon={lon}&lat={lat}`,
      style: `${url}/style.json`,
      ...(record.origin !== 'url' ? { source: `${url}/source.tif` } : {}),
    },
  };
}

/** A file name as a user sent it, fit to quote in a message: no folders or control characters, 120 chars. */
function displayName(name: string): string {
  return (name.replace(/\\/g, '/').split('/').pop() ?? '').replace(/[\u0000-\u001f\u007f]/g, '').slice(0, 120) || 'upload';
}

const UrlBody = z.object({ url: z.string().min(1).max(2048, 'the url is over 2048 characters').openapi({ description: 'http(s) URL of a Cloud-Optimized GeoTIFF on a server that answers Range requests' }) }).strict();

export function registerDatasetRoutes(app: OpenAPIHono, ctx: ServerContext): void {
  const base = (c: Context) => ctx.base(c);

  app.openapi(createRoute({
    method: 'get', path: '/datasets', tags: ['dataset'], operationId: 'listDatasets', summary: 'Datasets: the data folder, uploads, remote COGs and samples; by name, a page at a time',
    request: { query: DatasetListQuery },
    responses: { 200: jsonResponse(DatasetList, 'datasets'), ...errors(400) },
  }), async (c) => {
    // A page answers within the listing deadline (10 s): datasets whose remote server has not
    // answered by then are listed unusable for now (their opens go on, and a failed one is
    // remembered briefly). 48 URLs on a dead server held each listing 26 s with a 2 s timeout.
    const ms = ctx.limits.values.listingDeadlineMs;
    const { items, total, next } = await describePage(ctx.datasets, c.req.valid('query'), (d) => describeDataset(ctx, d, base(c)), `${base(c)}/datasets`, {
      ms,
      applies: (d) => d.origin === 'url',
      describe: (d) => ({ id: d.id, name: d.name, origin: d.origin, added_at: d.addedAt, usable: false, error: `its server did not answer within ${ms / 1000} s; ask again later` }),
    });
    return c.json({ datasets: items, total, next }, 200);
  });

  app.openapi(createRoute({
    method: 'get', path: '/datasets/{id}', tags: ['dataset'], operationId: 'getDataset', summary: 'Dataset metadata: bounds (EPSG:4326), CRS, bands, statistics, overviews',
    request: { params: IdParams },
    responses: { 200: jsonResponse(Dataset, 'dataset'), ...errors(400, 404) },
  }), async (c) => c.json(await describeDataset(ctx, ctx.datasets.get(c.req.valid('param').id), base(c)), 200));

  // Documented with the schemas, routed by hand: the body is streamed to disk as it arrives (up to
  // the upload limit), never parsed by a validator into memory.
  app.openAPIRegistry.registerPath({
    method: 'post', path: '/datasets', tags: ['dataset'], operationId: 'addDataset', security: bearer,
    summary: 'Upload a GeoTIFF (multipart field "file", or a raw image/tiff body with X-Filename), or register a remote COG ({"url": ...})',
    request: {
      body: {
        required: true,
        content: {
          'multipart/form-data': { schema: z.object({ file: z.string().openapi({ format: 'binary' }) }) },
          'image/tiff': { schema: z.string().openapi({ format: 'binary' }) },
          'application/json': { schema: UrlBody },
        },
      },
    },
    responses: { 201: jsonResponse(Dataset, 'the registered dataset'), ...errors(400, 401, 413, 422, 429, 507) },
  });
  app.post('/datasets', async (c) => {
    if ((c.req.header('content-type') ?? '').startsWith('application/json')) {
      const body = UrlBody.safeParse(await c.req.json().catch(() => null));
      if (!body.success) {
        // The reason where there is one (a URL too long), else what the body should be.
        const tooLong = body.error.issues.find((i) => i.code === 'too_big');
        throw new RequestError(tooLong ? `${tooLong.message}; register a shorter URL` : 'the body must be {"url": "https://..."}');
      }
      let record;
      const admitted = ctx.limits.admitRegistration();
      // A deadline for the whole check, and the client leaving, end it: a server that trickled its
      // answers, or never finished them, held a registration (and its sockets) for ever.
      const deadline = AbortSignal.timeout(ctx.limits.values.registrationTimeoutMs);
      try {
        record = await ctx.datasets.addUrl(body.data.url, (r) => ctx.limits.probe(r), AbortSignal.any([deadline, c.req.raw.signal]));
      } catch (err) {
        // The server's storage failing is not the URL's fault (it was labelled "invalid GeoTIFF").
        if (isStorageError(err)) throw err;
        // The client left: nobody is there to answer (@hono/node-server aborts with a string, and
        // reading its .message made a TypeError and a logged 500).
        if (c.req.raw.signal.aborted && !deadline.aborted) throw new RequestError('the client closed the connection');
        const why = deadline.aborted
          ? `checking it took over ${ctx.limits.values.registrationTimeoutMs / 1000} s (the server answers too slowly)`
          : oneLine(err);
        throw new UploadRejected(`${body.data.url.replace(/[?#].*$/, '').slice(0, 200)} was rejected: ${why}`, deadline.aborted ? new RasterError('timeout', why) : err);
      } finally {
        admitted.end();
      }
      return c.json(await describeDataset(ctx, record, base(c)), 201);
    }
    const env = c.env as { incoming?: IncomingMessage } | undefined;
    const upload = await receiveUpload(c.req.raw, env?.incoming, ctx.uploadDir, ctx.uploadLimit, ctx.limits);
    let record;
    try {
      record = await ctx.datasets.addUpload(upload.tempPath, upload.filename, (r) => ctx.limits.probe(r));
    } catch (err) {
      if (isStorageError(err)) throw err;
      throw new UploadRejected(`${displayName(upload.filename)} was rejected: ${oneLine(err)}`, err);
    }
    return c.json(await describeDataset(ctx, record, base(c)), 201);
  });

  app.openapi(createRoute({
    method: 'delete', path: '/datasets/{id}', tags: ['dataset'], operationId: 'deleteDataset', security: bearer,
    summary: 'Remove a dataset (and its file, unless it is remote)',
    request: { params: IdParams },
    responses: { 204: { description: 'deleted' }, ...errors(400, 401, 403, 404, 409) },
  }), async (c) => {
    const { id } = c.req.valid('param');
    ctx.datasets.get(id); // 404 first
    // A job reading it would run on to fail at its end ('dataset not found'), its work lost.
    const using = ctx.jobStore.withStatus('queued', 'running').filter((j) => j.datasetId === id || j.beforeId === id);
    if (using.length) throw inUseError('dataset', id, using);
    await ctx.datasets.remove(id);
    ctx.tiles.dropPrefix(`d:${id}:`);
    return c.body(null, 204);
  });

  app.openapi(createRoute({
    method: 'get', path: '/datasets/{id}/point', tags: ['dataset'], operationId: 'datasetPoint', summary: 'Pixel values at a point',
    request: { params: IdParams, query: LonLatQuery },
    responses: { 200: jsonResponse(PointValues, 'values'), ...errors(400, 404, 413, 422) },
  }), async (c) => {
    const { id } = c.req.valid('param');
    const { lon, lat } = c.req.valid('query');
    const reader = await ctx.datasets.open(id);
    const p = await reader.point(lon, lat, { signal: c.req.raw.signal });
    return c.json({ ...p, values: p.values.map((value, i) => ({ band: i + 1, description: reader.info.bands[i]!.description, value })) }, 200);
  });

  // The bytes of a local dataset, with Range and ETag: how remote workers read it.
  app.openapi(createRoute({
    method: 'get', path: '/datasets/{id}/source.tif', tags: ['dataset'], operationId: 'datasetSource',
    summary: 'The dataset file itself (local datasets), with Range, ETag and 304; remote workers read it this way',
    request: { params: IdParams },
    responses: { 200: { description: 'the GeoTIFF', content: { 'image/tiff': { schema: z.string().openapi({ format: 'binary' }) } } }, 206: partialContent('image/tiff'), 304: { description: 'not modified' }, ...errors(400, 404, 416) },
  }), (c) => {
    const record = ctx.datasets.get(c.req.valid('param').id);
    const file = ctx.datasets.localFile(record);
    if (!file) throw new RequestError(`dataset ${record.id} is remote; read it from its own URL`);
    return serveFile(file, c.req.raw, 'image/tiff; application=geotiff', record.name) as never;
  });

  // Its sidecars, where the file has them: a worker reads them beside source.tif, as the server
  // reads them beside the file (read/sidecars.ts), so both classify the same pixels.
  for (const [suffix, type] of [['.msk', 'image/tiff'], ['.aux.xml', 'application/xml']] as const) {
    app.openapi(createRoute({
      method: 'get', path: `/datasets/{id}/source.tif${suffix}`, tags: ['dataset'], operationId: suffix === '.msk' ? 'datasetSourceMask' : 'datasetSourcePam',
      summary: suffix === '.msk' ? 'The mask file beside a local dataset (GDAL\'s .msk), where it has one' : 'The .aux.xml beside a local dataset (GDAL\'s PAM: its nodata value), where it has one',
      request: { params: IdParams },
      responses: { 200: { description: 'the file', content: { [type]: { schema: z.string().openapi({ format: 'binary' }) } } }, 206: partialContent(type), 304: { description: 'not modified' }, ...errors(400, 404, 416) },
    }), (c) => {
      const record = ctx.datasets.get(c.req.valid('param').id);
      const file = ctx.datasets.localFile(record);
      const sidecar = file && `${file}${suffix}`;
      if (!sidecar || !fs.statSync(sidecar, { throwIfNoEntry: false })?.isFile()) throw new NotFoundError('sidecar', `${record.id}${suffix}`, 'does not exist');
      return serveFile(sidecar, c.req.raw, type, `${record.name}${suffix}`) as never;
    });
  }

  registerTiler<ImageryStyle>(app, { tiles: ctx.tiles, base }, {
    prefix: '/datasets',
    tag: 'dataset',
    cacheKey: 'd',
    formats: ['png', 'webp', 'jpg'],
    styleQuery: ImageryStyleQuery,
    open: async (id) => {
      const record = ctx.datasets.get(id);
      const slotGroup = record.origin === 'url' ? `host:${new URL(record.path).host}` : undefined;
      return { reader: await ctx.datasets.open(id), name: record.name, slotGroup };
    },
    style: async (layer, q, id) => {
      const { info } = layer.reader;
      const bands = parseBands(q.get('bands') ?? undefined, info);
      const rescale = parseRescale(q.getAll('rescale'), bands.length);
      // Awaited before a render slot is taken, so a first view of a new dataset does not hold
      // every slot while its statistics are computed.
      const stats = rescale === null && info.dtype !== 'uint8' ? (await ctx.datasets.statistics(id)).bands : null;
      return imageryStyle(info, bands, rescale, stats);
    },
    styleKey: (s) => `${s.bands.join(',')}:${JSON.stringify(s.rescale)}:${s.palette ? 'p' : ''}`,
    styleQueryString: (q) => keepParams(q, ['bands', 'rescale']),
    renderer: (s) => new ImageryRenderer(s),
  });
}

/** The listed query parameters, as "?a=..&b=.." (or ''), for tile URL templates. */
export function keepParams(q: URLSearchParams, keys: string[]): string {
  const out = new URLSearchParams();
  for (const key of keys) for (const v of q.getAll(key)) out.append(key, v);
  const s = out.toString();
  return s ? `?${s}` : '';
}
