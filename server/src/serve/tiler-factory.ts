/**
 * One recipe for raster tile endpoints, as TiTiler's TilerFactory: given how to open a layer, how
 * to read its style from the query, and which renderer paints it, registerTiler() adds
 * `{prefix}/{id}/tilejson.json` and `{prefix}/{id}/tiles/{z}/{x}/{y}.{format}` (and the layer's
 * entry for WMTS). Datasets, results and change results are three uses of it.
 */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { RasterReader } from '../read/raster-reader.ts';
import { TILE_SIZE } from '../read/web-mercator.ts';
import type { TileCache } from './tile-cache.ts';
import type { TileRenderer } from './tiles/tile-renderer.ts';
import type { TileFormat } from './tiles/encode-tile.ts';
import { parseTileAddress, tileResponse } from './tile-response.ts';
import { IdParams, TileJson, TileParams } from './api-schemas.ts';
import { describeZodError, errors, jsonResponse } from './openapi.ts';
import { RequestError } from '../errors.ts';

export interface TileLayer {
  reader: RasterReader;
  name: string;
  description?: string;
  /**
   * Whose share of the render slots its tiles take (tile-response.ts): by default the layer's own;
   * a remote dataset's is its server's, so two datasets on one slow server share one half.
   */
  slotGroup?: string;
}

/** `L`: what open() gives the other hooks, e.g. a layer that carries the record it was opened from. */
export interface TilerSpec<S, L extends TileLayer = TileLayer> {
  /** URL prefix, e.g. '/datasets'. */
  prefix: string;
  /** OpenAPI tag and the word used in summaries. */
  tag: string;
  /** Tile cache key prefix; a layer's tiles are dropped with `${cacheKey}:${id}:`. */
  cacheKey: string;
  formats: TileFormat[];
  /** Documents (and validates) the style query parameters. */
  styleQuery: z.ZodObject;
  open(id: string): Promise<L>;
  /** The style of a request; throws RequestError for a bad one. May await (statistics). */
  style(layer: L, query: URLSearchParams, id: string): Promise<S> | S;
  /** Everything in a style that changes the bytes of a tile. */
  styleKey(style: S): string;
  /** The query string (with "?") that reproduces a style in tile URLs. */
  styleQueryString(query: URLSearchParams): string;
  renderer(style: S, layer: L): TileRenderer;
  /** Extra TileJSON members (legend, description). */
  tileJsonExtras?(layer: L, id: string): Record<string, unknown>;
}

export interface TilerDeps {
  tiles: TileCache;
  base(c: Context): string;
}

const FILE = /^(\d+)\.(png|webp|jpe?g)$/;

export function registerTiler<S, L extends TileLayer = TileLayer>(app: OpenAPIHono, deps: TilerDeps, spec: TilerSpec<S, L>): void {
  const { prefix, tag } = spec;

  app.openapi(createRoute({
    method: 'get',
    path: `${prefix}/{id}/tilejson.json`,
    tags: [tag],
    operationId: `${tag}TileJson`,
    summary: `TileJSON 3.0.0 of a ${tag} (raster tiles)`,
    request: { params: IdParams, query: spec.styleQuery },
    responses: { 200: jsonResponse(TileJson, 'TileJSON'), ...errors(400, 404, 413, 422) },
  }), async (c) => {
    const { id } = c.req.valid('param');
    const layer = await spec.open(id);
    const extent = layer.reader.webExtent();
    layer.reader.earthBounds();
    const query = new URL(c.req.url).searchParams;
    await spec.style(layer, query, id); // a bad style fails here, not on every tile
    return c.json({
      tilejson: '3.0.0' as const,
      name: layer.name,
      ...(layer.description ? { description: layer.description } : {}),
      scheme: 'xyz' as const,
      tiles: [`${deps.base(c)}${prefix}/${id}/tiles/{z}/{x}/{y}.png${spec.styleQueryString(query)}`],
      bounds: extent.bounds!,
      center: extent.center,
      minzoom: extent.minzoom,
      maxzoom: extent.maxzoom,
      ...spec.tileJsonExtras?.(layer, id),
    }, 200);
  });

  // Documented with the same schemas, routed by hand: Hono's router cannot split "{y}.{format}",
  // one path segment, into two parameters, so the handler splits it and validates the parts.
  app.openAPIRegistry.registerPath({
    method: 'get',
    path: `${prefix}/{id}/tiles/{z}/{x}/{y}.{format}`,
    tags: [tag],
    operationId: `${tag}Tile`,
    summary: `Web Mercator tile (${spec.formats.join(', ')}), ${TILE_SIZE} px; 204 when the tile is outside the ${tag}`,
    request: { params: TileParams.extend({ format: z.enum(spec.formats as [TileFormat, ...TileFormat[]]) }), query: spec.styleQuery },
    responses: {
      200: { description: 'the tile', content: Object.fromEntries(spec.formats.map((f) => [mime(f), { schema: { type: 'string', format: 'binary' } }])) },
      204: { description: 'the tile does not touch the data' },
      304: { description: 'not modified (If-None-Match matched the ETag)' },
      ...errors(400, 404, 413, 422, 502, 504),
    },
  });
  app.get(`${prefix}/:id/tiles/:z/:x/:file`, async (c) => {
    const { id, z, x, y, ext } = parseTileAddress(c.req.param(), FILE, `tile must look like {y}.png (formats: ${spec.formats.join(', ')})`);
    const format = (ext === 'jpeg' ? 'jpg' : ext) as TileFormat;
    if (!spec.formats.includes(format)) throw new RequestError(`format ${ext} is not offered here; use ${spec.formats.join(', ')}`);
    const query = new URL(c.req.url).searchParams;
    // The tile route is not validated by the OpenAPI layer (its file segment is parsed here), so its
    // style query gets the same checks as the tilejson's.
    // One value per parameter (rescale may repeat, one per band): what is checked is what is drawn.
    const repeated = [...new Set(query.keys())].find((k) => k !== 'rescale' && query.getAll(k).length > 1);
    if (repeated) throw new RequestError(`${repeated} is given ${query.getAll(repeated).length} times; give it once`);
    const checked = spec.styleQuery.safeParse(Object.fromEntries(query));
    if (!checked.success) throw new RequestError(`invalid query: ${describeZodError(checked.error)}`);
    const layer = await spec.open(id);
    layer.reader.earthBounds();
    const style = await spec.style(layer, query, id);
    const key = `${spec.cacheKey}:${id}:${layer.reader.version}:${spec.styleKey(style)}:${z}/${x}/${y}.${format}`;
    const renderer = spec.renderer(style, layer);
    return tileResponse(c.req.raw, deps.tiles, key, format, layer.slotGroup ?? `${spec.cacheKey}:${id}`, async () => {
      const tile = await layer.reader.tile(z, x, y, { bands: renderer.bands, resampling: renderer.resampling, signal: c.req.raw.signal });
      return tile ? renderer.paint(tile) : null;
    });
  });
}

function mime(format: TileFormat): string {
  return format === 'jpg' ? 'image/jpeg' : `image/${format}`;
}

