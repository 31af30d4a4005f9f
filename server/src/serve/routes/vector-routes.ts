/**
 * A result's polygons: GeoJSON (EPSG:4326, gzip when the client takes it), FlatGeobuf (native CRS,
 * spatially indexed, ranged so GDAL and QGIS read only the boxes they need), and Mapbox Vector
 * Tiles with their own TileJSON (raster and vector TileJSON are separate documents: MapLibre reads
 * a `url` source's tiles as the source's type).
 */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { ServerContext } from '../server-context.ts';
import { serveFile } from '../file-response.ts';
import { IdParams, TileJson, TileParams } from '../api-schemas.ts';
import { errors, jsonResponse, partialContent } from '../openapi.ts';
import { parseTileAddress } from '../tile-response.ts';
import { isStorageError } from '../http-error.ts';

/** Whether an Accept-Encoding value takes gzip: listed (or *) with a q above 0 ("gzip;q=0" refuses it). */
export function acceptsGzip(header: string): boolean {
  let star = false;
  for (const part of header.split(',')) {
    const [name = '', ...params] = part.trim().toLowerCase().split(';').map((v) => v.trim());
    const q = params.find((p) => p.startsWith('q='));
    const weight = q === undefined ? 1 : Number(q.slice(2));
    if (name === 'gzip') return weight > 0;
    if (name === '*') star = weight > 0;
  }
  return star;
}

export function registerVectorRoutes(app: OpenAPIHono, ctx: ServerContext): void {
  app.openapi(createRoute({
    method: 'get', path: '/results/{id}/features.geojson', tags: ['result'], operationId: 'resultGeoJson',
    summary: 'The polygons as GeoJSON, EPSG:4326 (id, class, class_id, area_m2; 7 decimals); vectorized once on first request',
    request: { params: IdParams },
    responses: { 200: { description: 'GeoJSON FeatureCollection', content: { 'application/geo+json': { schema: z.object({ type: z.literal('FeatureCollection'), features: z.array(z.unknown()) }) } } }, 304: { description: 'not modified' }, ...errors(400, 404, 422) },
  }), async (c) => {
    const r = ctx.results.get(c.req.valid('param').id);
    const accepts = c.req.header('accept-encoding') ?? '';
    // Ranges are of the plain file: a ranged client (GDAL's /vsicurl/) gets identity.
    if (!acceptsGzip(accepts) || c.req.header('range')) {
      return serveFile(await ctx.vectors.features(r), c.req.raw, 'application/geo+json', `${r.name}.geojson`) as never;
    }
    // The gzipped copy made once (result-vectors.ts), served as the same resource gzip-encoded.
    // Where it cannot be made (a full disk), the plain file, which is there, is served instead.
    const gz = await ctx.vectors.featuresGzip(r).catch(async (err: unknown) => {
      if (!isStorageError(err)) throw err;
      return null;
    });
    if (!gz) return serveFile(await ctx.vectors.features(r), c.req.raw, 'application/geo+json', `${r.name}.geojson`) as never;
    const res = serveFile(gz, c.req.raw, 'application/geo+json', `${r.name}.geojson`);
    res.headers.set('Content-Encoding', 'gzip');
    res.headers.set('Vary', 'Accept-Encoding');
    res.headers.delete('Accept-Ranges');
    return res as never;
  });

  app.openapi(createRoute({
    method: 'get', path: '/results/{id}/features.fgb', tags: ['result'], operationId: 'resultFlatGeobuf',
    summary: 'The polygons as FlatGeobuf in the mask\'s CRS, with its packed R-tree; Range, ETag and 304 as mask.tif',
    request: { params: IdParams },
    responses: { 200: { description: 'FlatGeobuf', content: { 'application/flatgeobuf': { schema: z.string().openapi({ format: 'binary' }) } } }, 206: partialContent('application/flatgeobuf'), 304: { description: 'not modified' }, ...errors(400, 404, 416, 422) },
  }), async (c) => {
    const r = ctx.results.get(c.req.valid('param').id);
    return serveFile(await ctx.vectors.flatgeobuf(r), c.req.raw, 'application/flatgeobuf', `${r.name}.fgb`) as never;
  });

  app.openapi(createRoute({
    method: 'get', path: '/results/{id}/vector/tilejson.json', tags: ['result'], operationId: 'resultVectorTileJson',
    summary: 'TileJSON 3.0.0 of the polygons as vector tiles (one layer per class); use it as a MapLibre `vector` source url',
    request: { params: IdParams },
    responses: { 200: jsonResponse(TileJson, 'TileJSON'), ...errors(400, 404, 413, 422) },
  }), async (c) => {
    const r = ctx.results.get(c.req.valid('param').id);
    // The polygons first (made now if they were not): a TileJSON answered before them advertised
    // tiles that were all refused (too many polygons, or too large a GeoJSON to index).
    await ctx.vectors.features(r);
    ctx.vectors.checkTileable(r);
    const reader = await ctx.results.open(r.id);
    const extent = reader.webExtent();
    reader.earthBounds();
    return c.json({
      tilejson: '3.0.0' as const,
      name: `${r.name} (polygons)`,
      description: r.kind === 'change'
        ? `${r.modelId} change polygons, one layer per change; properties: id, class ("from → to"), class_id (the code), from, to, from_id, to_id, area_m2`
        : `${r.modelId} polygons; properties: id, class, class_id, area_m2`,
      scheme: 'xyz' as const,
      tiles: [`${ctx.base(c)}/results/${r.id}/vector/{z}/{x}/{y}.mvt`],
      bounds: extent.bounds!,
      center: extent.center,
      // MapLibre overzooms past maxzoom by itself; tiles beyond it are also served on request.
      minzoom: 0,
      maxzoom: extent.maxzoom,
      vector_layers: await ctx.vectors.layers(r),
    }, 200);
  });

  app.openAPIRegistry.registerPath({
    method: 'get', path: '/results/{id}/vector/{z}/{x}/{y}.{format}', tags: ['result'], operationId: 'resultVectorTile',
    summary: 'Mapbox Vector Tile of the polygons, one layer per class (.mvt, or .pbf as an alias); 204 when empty',
    request: { params: TileParams.extend({ format: z.enum(['mvt', 'pbf']) }) },
    responses: { 200: { description: 'the tile', content: { 'application/vnd.mapbox-vector-tile': { schema: { type: 'string', format: 'binary' } } } }, 204: { description: 'no polygons in this tile' }, ...errors(400, 404, 413, 422) },
  });
  app.get('/results/:id/vector/:z/:x/:file', async (c) => {
    const { id, z: tz, x, y } = parseTileAddress(c.req.param(), /^(\d+)\.(mvt|pbf)$/, 'vector tile must look like {y}.mvt or {y}.pbf');
    const r = ctx.results.get(id);
    const bytes = (await ctx.vectors.tiles(r)).tile(tz, x, y);
    const headers = { 'Cache-Control': 'public, max-age=3600' };
    if (!bytes) return new Response(null, { status: 204, headers });
    return new Response(new Uint8Array(bytes), { status: 200, headers: { ...headers, 'Content-Type': 'application/vnd.mapbox-vector-tile', 'Content-Length': String(bytes.length) } });
  });
}
