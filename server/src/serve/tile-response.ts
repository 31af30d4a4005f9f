/**
 * The common path of every raster tile request: validate z/x/y, answer from the cache or render,
 * encode, and reply with an ETag (304 when the client has it). Tiles outside the raster are
 * 204 No Content: MapLibre draws nothing and GDAL's WMS driver treats 204 as an empty block.
 */
import os from 'node:os';
import pLimit from 'p-limit';
import { etagMatches } from './file-response.ts';
import type { TileCache } from './tile-cache.ts';
import type { RgbaTile } from './tiles/tile-renderer.ts';
import { CONTENT_TYPES, encodeTile, type TileFormat } from './tiles/encode-tile.ts';
import { RequestError } from '../errors.ts';
import { TileParams } from './api-schemas.ts';
import { describeZodError } from './openapi.ts';

/**
 * Renders admitted two per core, first come first served. Unbounded, a burst of requests
 * interleaves its reads, decodes and encodes on the shared thread pool, and a tile that needs
 * several reads in a row waits behind the whole queue at each of them: under load the slowest
 * requests took seconds while most took milliseconds.
 */
const RENDER_SLOTS = Math.max(2, 2 * os.availableParallelism());
const renderSlots = pLimit(RENDER_SLOTS);

/**
 * And at most half of them for one group (a dataset or result, or the server of remote datasets):
 * a remote raster whose server answers slowly took every slot, and tiles of every other dataset
 * waited behind it for minutes. A group's tiles queue here, before taking a slot.
 */
const perGroup = new Map<string, ReturnType<typeof pLimit>>();
function groupSlots(group: string): ReturnType<typeof pLimit> {
  let limit = perGroup.get(group);
  if (!limit) perGroup.set(group, (limit = pLimit(Math.max(1, Math.floor(RENDER_SLOTS / 2)))));
  return limit;
}

/**
 * The address of a tile request whose last path segment is `{y}.{ext}`: `file` must match `pattern`
 * (y, then the extension), else 400 with `shape` (how it should look); z, x and y are checked by
 * TileParams and against the zoom's grid. One parser for raster and vector tiles.
 */
export function parseTileAddress(
  params: { id: string; z: string; x: string; file: string }, pattern: RegExp, shape: string,
): { id: string; z: number; x: number; y: number; ext: string } {
  const m = pattern.exec(params.file);
  if (!m) throw new RequestError(`${shape}; got "${params.file.slice(0, 40)}"`);
  const parsed = TileParams.safeParse({ id: params.id, z: params.z, x: params.x, y: m[1] });
  if (!parsed.success) throw new RequestError(`invalid tile address: ${describeZodError(parsed.error)}`);
  const { id, z, x, y } = parsed.data;
  const n = 2 ** z;
  if (x >= n || y >= n) throw new RequestError(`tile ${z}/${x}/${y} does not exist: x and y must be below ${n} at zoom ${z}`);
  return { id, z, x, y, ext: m[2]! };
}

/** `group`: whose share of the render slots the tile takes (see groupSlots). */
export async function tileResponse(
  req: Request, cache: TileCache, key: string, format: TileFormat, group: string, render: () => Promise<RgbaTile | null>,
): Promise<Response> {
  let entry = cache.get(key);
  if (!entry) {
    const share = groupSlots(group);
    const body = await share(() => renderSlots(async () => {
      // A map that panned away has dropped this request while it waited: skip the work.
      if (req.signal.aborted) return undefined;
      const tile = await render();
      return tile ? encodeTile(tile, format) : null;
    })).finally(() => {
      // Limiters of groups nobody is drawing are dropped (one per dataset otherwise, for ever).
      if (share.activeCount === 0 && share.pendingCount === 0 && perGroup.get(group) === share) perGroup.delete(group);
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
