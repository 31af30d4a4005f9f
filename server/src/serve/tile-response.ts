/**
 * The common path of every raster tile request: validate z/x/y, answer from the cache or render,
 * encode, and reply with an ETag (304 when the client has it). Tiles outside the raster are
 * 204 No Content: MapLibre draws nothing and GDAL's WMS driver treats 204 as an empty block.
 */
import os from 'node:os';
import pLimit from 'p-limit';
import { HttpError } from './http-error.ts';
import { etagMatches } from './file-response.ts';
import type { TileCache } from './tile-cache.ts';
import type { RgbaTile } from './tiles/tile-renderer.ts';
import { CONTENT_TYPES, encodeTile, type TileFormat } from './tiles/encode-tile.ts';
import { MAX_ZOOM } from '../read/web-mercator.ts';

/**
 * Renders admitted two per core, first come first served. Unbounded, a burst of requests
 * interleaves its reads, decodes and encodes on the shared thread pool, and a tile that needs
 * several reads in a row waits behind the whole queue at each of them: under load the slowest
 * requests took seconds while most took milliseconds.
 */
const renderSlots = pLimit(Math.max(2, 2 * os.availableParallelism()));

export interface TileAddress {
  z: number;
  x: number;
  y: number;
  format: TileFormat;
}

export function parseTileAddress(zText: string, xText: string, file: string, formats: TileFormat[]): TileAddress {
  const m = /^(\d+)\.(png|webp|jpe?g)$/.exec(file);
  if (!m) throw new HttpError(400, 'bad request', `tile must look like {y}.png (formats: ${formats.join(', ')}); got "${file}"`);
  const format = (m[2] === 'jpeg' ? 'jpg' : m[2]) as TileFormat;
  if (!formats.includes(format)) throw new HttpError(400, 'bad request', `format ${m[2]} is not offered here; use ${formats.join(', ')}`);
  const z = Number(zText);
  const x = Number(xText);
  const y = Number(m[1]);
  if (!/^\d+$/.test(zText) || z > MAX_ZOOM) throw new HttpError(400, 'bad request', `zoom must be an integer from 0 to ${MAX_ZOOM} (got "${zText}")`);
  const n = 2 ** z;
  if (!/^\d+$/.test(xText) || x >= n || y >= n) throw new HttpError(400, 'bad request', `tile ${zText}/${xText}/${m[1]} does not exist: x and y must be below ${n} at zoom ${z}`);
  return { z, x, y, format };
}

export async function tileResponse(
  req: Request, cache: TileCache, key: string, format: TileFormat, render: () => Promise<RgbaTile | null>,
): Promise<Response> {
  let entry = cache.get(key);
  if (!entry) {
    const body = await renderSlots(async () => {
      // A map that panned away has dropped this request while it waited: skip the work.
      if (req.signal.aborted) return undefined;
      const tile = await render();
      return tile ? encodeTile(tile, format) : null;
    });
    // 499, as nginx logs it: nobody is listening for the answer.
    if (body === undefined) return new Response(null, { status: 499 });
    entry = cache.set(key, body, CONTENT_TYPES[format]);
  }
  const headers: Record<string, string> = { ETag: entry.etag, 'Cache-Control': 'public, max-age=3600' };
  if (!entry.body) return new Response(null, { status: 204, headers });
  const inm = req.headers.get('if-none-match');
  if (inm && etagMatches(inm, entry.etag)) return new Response(null, { status: 304, headers });
  // A view, not a copy: cached bodies are never written to.
  return new Response(new Uint8Array(entry.body.buffer as ArrayBuffer, entry.body.byteOffset, entry.body.byteLength), { status: 200, headers: { ...headers, 'Content-Type': entry.contentType, 'Content-Length': String(entry.body.length) } });
}
