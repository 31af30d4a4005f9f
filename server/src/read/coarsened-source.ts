/**
 * A raster source over a raster source: the same raster on a grid whose pixels are `x` x `y` of the
 * underlying one's, each the average of the valid pixels it covers (what `gdalwarp -r average`
 * gives for a whole-number factor). A pixel is invalid only where none under it is valid. The grid
 * holds whole blocks only: the last columns and rows that make less than a block (fewer than `x`
 * or `y`) are left out, so that no pixel reaches past the raster's edge (a block half beyond it
 * counted the ground beyond as classified, and took areas lying there as on the raster).
 *
 * For imagery much finer than a model (a 3 cm drone orthophoto and a 1 m model): segmenting it at
 * its own resolution held tiles thousands of pixels wide and was refused; averaged here first, the
 * rest of the pipeline sees a scene of about the model's resolution. Written here rather than taken
 * from a library: it has to stream over this project's own RasterSource seam, window by window.
 *
 * The underlying overviews are not used (tried, and reverted): where a side is no multiple of an
 * overview's factor, GDAL's overview pixels are not whole blocks of the full resolution (blocks
 * drifted by up to a pixel), and resampled mask overviews mark pixels valid where every pixel
 * under them is masked.
 */
import { allocate, bytesPerSample, type PixelBlock, type RasterInfo, type TypedArray, type Window } from './raster.ts';
import type { RasterSource, ReadOptions } from './raster-source.ts';

/**
 * Most bytes of underlying pixels read at once (two reads are in flight): memory stays bounded
 * however large the window, and however many bands of whatever type (10 float32 bands held 160 MB
 * a read when the bound was in pixels).
 */
const CHUNK_BYTES = 16 * 2 ** 20;

export class CoarsenedSource implements RasterSource {
  readonly info: RasterInfo;
  readonly version: string;
  readonly levelCount = 1;

  /** Underlying pixels one read holds at most. */
  private readonly chunkPixels: number;

  /** `chunkPixels`: for tests of reads in many chunks; default from CHUNK_BYTES. */
  constructor(readonly base: RasterSource, readonly factor: { x: number; y: number }, options: { chunkPixels?: number } = {}) {
    const { x, y } = factor;
    if (!Number.isInteger(x) || !Number.isInteger(y) || x < 1 || y < 1) throw new RangeError(`coarsening factors must be whole numbers >= 1 (got ${x} x ${y})`);
    const b = base.info;
    const gt = b.geoTransform;
    if (x > b.width || y > b.height) throw new RangeError(`a ${x} x ${y} block is larger than the ${b.width} x ${b.height} raster`);
    const width = Math.floor(b.width / x);
    const height = Math.floor(b.height / y);
    this.info = {
      ...b,
      width,
      height,
      // A column step is x underlying columns, a row step y underlying rows (rotation terms too).
      geoTransform: [gt[0], gt[1] * x, gt[2] * y, gt[3], gt[4] * x, gt[5] * y],
      overviews: [],
      blockWidth: Math.min(width, Math.max(16, Math.ceil(b.blockWidth / x))),
      blockHeight: Math.min(height, Math.max(16, Math.ceil(b.blockHeight / y))),
    };
    this.version = `${base.version}|average ${x}x${y}`;
    this.chunkPixels = options.chunkPixels ?? Math.max(1, Math.floor(CHUNK_BYTES / (b.bandCount * bytesPerSample(b.dtype))));
  }

  levelSize(level: number): { width: number; height: number } {
    if (level !== 0) throw new RangeError(`level ${level} does not exist (an averaged raster has no overviews)`);
    return { width: this.info.width, height: this.info.height };
  }

  /**
   * The base is read with nodata marked invalid whatever `nodataInvalid` says: a block's average
   * leaves pixels holding nodata out, and an invalid block holds the nodata value, which serves a
   * caller that tells nodata by value too.
   */
  async read(window: Window, options: ReadOptions = {}): Promise<PixelBlock> {
    if ((options.level ?? 0) !== 0) this.levelSize(options.level!);
    const { x: fx, y: fy } = this.factor;
    const { width: w, height: h } = window;
    const bandIds = options.bands ?? this.info.bands.map((b) => b.index);
    const dtype = this.info.dtype;
    const out = bandIds.map(() => allocate(dtype, w * h));
    const valid = new Uint8Array(w * h);
    // Invalid pixels hold nodata (NaN too, in float data), or 0 where none is declared.
    const fill = this.info.nodata ?? 0;
    if (fill !== 0) for (const band of out) band.fill(fill);
    // The part of the window that lies on the raster, in this grid's pixels.
    const x0 = Math.max(0, window.x);
    const y0 = Math.max(0, window.y);
    const x1 = Math.min(this.info.width, window.x + w);
    const y1 = Math.min(this.info.height, window.y + h);
    if (x1 > x0 && y1 > y0) {
      const cols = Math.max(1, Math.min(x1 - x0, Math.floor(this.chunkPixels / (fx * fy))));
      const rows = Math.max(1, Math.floor(this.chunkPixels / (cols * fx * fy)));
      const chunks: Window[] = [];
      for (let cy = y0; cy < y1; cy += rows) for (let cx = x0; cx < x1; cx += cols) chunks.push({ x: cx, y: cy, width: Math.min(cols, x1 - cx), height: Math.min(rows, y1 - cy) });
      // One chunk read ahead while the one before is averaged (decoding runs on other threads).
      const readChunk = (c: Window) => {
        const p = this.base.read({ x: c.x * fx, y: c.y * fy, width: c.width * fx, height: c.height * fy }, { bands: bandIds, anyBandNodata: options.anyBandNodata, signal: options.signal });
        p.catch(() => undefined);
        return p;
      };
      let next = readChunk(chunks[0]!);
      for (let i = 0; i < chunks.length; i++) {
        const block = await next;
        if (i + 1 < chunks.length) next = readChunk(chunks[i + 1]!);
        const c = chunks[i]!;
        this.average(block, c, window, out, valid);
      }
    }
    const gt = this.info.geoTransform;
    return {
      window, width: w, height: h, dtype, bands: out, valid,
      geoTransform: [gt[0] + window.x * gt[1] + window.y * gt[2], gt[1], gt[2], gt[3] + window.x * gt[4] + window.y * gt[5], gt[4], gt[5]],
      crs: this.info.crs,
    };
  }

  /**
   * Averages the underlying `block` of chunk `c` into `out`/`valid` (the window's arrays): the
   * valid pixels under each, as the reader marks them (every band nodata, or any band with
   * anyBandNodata), as gdalwarp does when all bands share one nodata value; a NaN is left out of
   * its band's average. A band with no value under a valid pixel holds nodata there.
   */
  private average(block: PixelBlock, c: Window, window: Window, out: TypedArray[], valid: Uint8Array): void {
    const { x: fx, y: fy } = this.factor;
    const cells = c.width * c.height;
    const any = new Uint8Array(cells);
    const counts = out.map(() => new Uint32Array(cells));
    const sums = out.map(() => new Float64Array(cells));
    const bw = block.width;
    const cellOfColumn = new Int32Array(bw);
    for (let u = 0; u < bw; u++) cellOfColumn[u] = Math.floor(u / fx);
    for (let b = 0; b < out.length; b++) {
      const values = block.bands[b]!;
      const sum = sums[b]!;
      const count = counts[b]!;
      for (let v = 0; v < block.height; v++) {
        const rowCell = Math.floor(v / fy) * c.width;
        const at = v * bw;
        for (let u = 0; u < bw; u++) {
          if (!block.valid[at + u]) continue;
          const cell = rowCell + cellOfColumn[u]!;
          any[cell] = 1;
          const value = values[at + u]!;
          if (value !== value) continue;
          sum[cell]! += value;
          count[cell]!++;
        }
      }
    }
    const round = !/^float/.test(this.info.dtype);
    for (let j = 0; j < c.height; j++) {
      for (let i = 0; i < c.width; i++) {
        const cell = j * c.width + i;
        if (!any[cell]) continue;
        const o = (c.y - window.y + j) * window.width + (c.x - window.x + i);
        valid[o] = 1;
        for (let b = 0; b < out.length; b++) {
          const n = counts[b]![cell]!;
          if (n > 0) out[b]![o] = round ? Math.round(sums[b]![cell]! / n) : sums[b]![cell]! / n;
        }
      }
    }
  }

  checkUnchanged(): Promise<void> {
    return this.base.checkUnchanged?.() ?? Promise.resolve();
  }

  close(): Promise<void> {
    return this.base.close();
  }
}
