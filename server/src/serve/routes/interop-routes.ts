/**
 * What GIS clients ask for beside the tiles: a MapLibre style per dataset and result (one URL, and
 * the map draws imagery, classes and polygons in the model's colours), class names for desktop GIS
 * (a GDAL PAM sidecar next to mask.tif, which GDAL requests over /vsicurl/, and a QGIS .qml), and a
 * WMTS capabilities document listing every dataset and result, so QGIS, ArcGIS and GDAL connect
 * with one URL.
 */
import pLimit from 'p-limit';
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { ServerContext } from '../server-context.ts';
import { resultClasses } from '../../catalog/result-catalog.ts';
import { datasetMapLibreStyle, mapLibreStyle } from '../map-style.ts';
import { wmtsCapabilities, type WmtsLayer } from '../wmts-capabilities.ts';
import { pamAuxXml, qgisQml } from '../../write/class-mask-sidecars.ts';
import { MASK_NODATA } from '../../write/class-mask.ts';
import { contentDisposition } from '../content-disposition.ts';
import { parseRanges } from '../file-response.ts';
import { IdParams } from '../api-schemas.ts';
import { errors, jsonResponse } from '../openapi.ts';

const StyleDoc = z.object({
  version: z.literal(8),
  name: z.string(),
  metadata: z.record(z.string(), z.unknown()),
  center: z.array(z.number()).optional(),
  zoom: z.number().optional(),
  sources: z.record(z.string(), z.record(z.string(), z.unknown())),
  layers: z.array(z.record(z.string(), z.unknown())),
}).openapi('MapLibreStyle');

const xml = (description: string) => ({ description, content: { 'application/xml': { schema: z.string() } } });

export function registerInteropRoutes(app: OpenAPIHono, ctx: ServerContext): void {
  const base = (c: Context) => ctx.base(c);

  app.openapi(createRoute({
    method: 'get', path: '/datasets/{id}/style.json', tags: ['dataset'], operationId: 'datasetStyle',
    summary: 'A MapLibre style (v8) showing the dataset: load it by URL in any MapLibre client',
    request: { params: IdParams },
    responses: { 200: jsonResponse(StyleDoc, 'MapLibre style'), ...errors(400, 404, 413, 422) },
  }), async (c) => {
    const { id } = c.req.valid('param');
    const record = ctx.datasets.get(id);
    const extent = (await ctx.datasets.open(id)).webExtent();
    const style = datasetMapLibreStyle({
      name: record.name,
      imageryTileJson: `${base(c)}/datasets/${id}/tilejson.json`,
      ...(extent.center ? { center: [extent.center[0], extent.center[1]] as [number, number], zoom: extent.center[2] } : {}),
    });
    return c.json(style as z.infer<typeof StyleDoc>, 200);
  });

  app.openapi(createRoute({
    method: 'get', path: '/results/{id}/style.json', tags: ['result'], operationId: 'resultStyle',
    summary: 'A MapLibre style (v8): the dataset imagery, the class raster and the polygons, coloured per class, legend in metadata',
    request: { params: IdParams },
    responses: { 200: jsonResponse(StyleDoc, 'MapLibre style'), ...errors(400, 404, 413, 422) },
  }), async (c) => {
    const r = ctx.results.get(c.req.valid('param').id);
    const extent = (await ctx.results.open(r.id)).webExtent();
    const url = `${base(c)}/results/${r.id}`;
    const imagery = r.datasetId && ctx.datasets.has(r.datasetId) ? `${base(c)}/datasets/${r.datasetId}/tilejson.json` : null;
    const style = mapLibreStyle({
      name: r.name,
      // A result whose dataset is gone (or that came from the CLI) has no imagery to draw under it.
      imageryTileJson: imagery,
      maskTileJson: `${url}/tilejson.json`,
      polygons: { tilejson: `${url}/vector/tilejson.json` },
      classes: resultClasses(r),
      ...(extent.center ? { center: [extent.center[0], extent.center[1]] as [number, number], zoom: extent.center[2] } : {}),
    });
    return c.json(style as z.infer<typeof StyleDoc>, 200);
  });

  app.openapi(createRoute({
    method: 'get', path: '/results/{id}/mask.tif.aux.xml', tags: ['result'], operationId: 'resultMaskAux',
    summary: 'GDAL PAM sidecar of mask.tif: class names (CategoryNames) and a raster attribute table; GDAL fetches it over /vsicurl/',
    request: { params: IdParams },
    responses: { 200: xml('PAM XML'), 206: xml('one range of it (Range: bytes=...)'), ...errors(400, 404) },
  }), (c) => {
    const r = ctx.results.get(c.req.valid('param').id);
    const body = Buffer.from(pamAuxXml(resultClasses(r), MASK_NODATA));
    const headers = { 'Content-Type': 'application/xml; charset=utf-8', 'Cache-Control': 'public, max-age=60', 'Accept-Ranges': 'bytes' };
    // One range, as a reader of the mask by URL asks for its sidecar (a satseg reading another's
    // results): a list of many long class names outgrew the first block it takes whole.
    const ranges = c.req.header('range') ? parseRanges(c.req.header('range')!, body.length) : null;
    if (ranges?.length === 1) {
      const [start, end] = ranges[0]!;
      return c.body(new Uint8Array(body.subarray(start, end + 1)), 206, { ...headers, 'Content-Range': `bytes ${start}-${end}/${body.length}`, 'Content-Length': String(end - start + 1) }) as never;
    }
    // A length on HEAD too: GDAL sizes a sidecar with HEAD before it reads it.
    return c.body(new Uint8Array(body), 200, { ...headers, 'Content-Length': String(body.length) }) as never;
  });

  app.openapi(createRoute({
    method: 'get', path: '/results/{id}/style.qml', tags: ['result'], operationId: 'resultQml',
    summary: 'QGIS style for mask.tif (paletted renderer with the class names); save it beside the downloaded mask as mask.qml',
    request: { params: IdParams },
    responses: { 200: xml('QGIS QML'), ...errors(400, 404) },
  }), (c) => {
    const r = ctx.results.get(c.req.valid('param').id);
    return c.body(qgisQml(resultClasses(r), MASK_NODATA), 200, { 'Content-Type': 'application/xml; charset=utf-8', 'Content-Disposition': contentDisposition(`${r.name}-mask.qml`) }) as never;
  });

  app.openapi(createRoute({
    method: 'get', path: '/wmts/WMTSCapabilities.xml', tags: ['ogc'], operationId: 'wmtsCapabilities',
    summary: 'OGC WMTS 1.0.0 capabilities (RESTful): every dataset and result as a layer in WebMercatorQuad, PNG',
    responses: { 200: xml('WMTS capabilities') },
  }), async (c) => {
    const layer = async (path: string, identifier: string, title: string, open: () => Promise<{ webExtent(): { bounds: [number, number, number, number] | null; minzoom: number; maxzoom: number } }>): Promise<WmtsLayer | null> => {
      try {
        const e = (await open()).webExtent();
        return e.bounds ? { identifier, title, path, bounds: e.bounds, minzoom: e.minzoom, maxzoom: e.maxzoom } : null;
      } catch {
        // An unreadable dataset is listed by /datasets with its reason; WMTS lists what it can serve.
        return null;
      }
    };
    // Opened a few at a time, as GET /datasets does (a remote dataset may revalidate over HTTP; all
    // at once held a file per layer), listed in order.
    const opening = pLimit(8);
    const layers = (await Promise.all([
      ...ctx.datasets.list().map((d) => opening(() => layer(`datasets/${d.id}`, `dataset-${d.id}`, d.name, () => ctx.datasets.open(d.id)))),
      ...ctx.results.list().map((r) => opening(() => layer(`results/${r.id}`, `result-${r.id}`, r.name, () => ctx.results.open(r.id)))),
    ])).filter((l): l is WmtsLayer => l !== null);
    return c.body(wmtsCapabilities(layers, base(c)), 200, { 'Content-Type': 'application/xml; charset=utf-8', 'Cache-Control': 'no-cache' }) as never;
  });
}
