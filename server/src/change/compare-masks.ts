/**
 * Before/after change detection between two class masks of the same model.
 *
 * The comparison runs on the before mask's grid, clipped to the area (when one is given) and to
 * the part the after mask covers. The after mask is resampled onto that grid by nearest neighbour
 * (GridMapping): class ids are picked, never interpolated. Each output pixel gets the transition
 * code `from * N + to` (unchanged pixels keep `c * N + c`, see transition-codes.ts), or nodata 255
 * where either mask is nodata, outside either scene, or outside the area.
 *
 * Rows stream through in strips: a strip of the before mask, the after window its pixels fall in,
 * the codes, the tally, the COG writer. The next strip is read while this one is compared and
 * written, so decoding, comparing and compressing overlap. Memory is a few strips, whatever the
 * size of the masks.
 */
import path from 'node:path';
import type { PixelBlock, Window } from '../read/raster.ts';
import { windowTransform } from '../read/raster.ts';
import { openRaster, type RasterSource } from '../read/raster-source.ts';
import { GeoTiffSource } from '../read/geotiff-source.ts';
import { areaOnGrid, type Area } from '../segment/segment-area.ts';
import { CogWriter } from '../write/cog-writer.ts';
import { changeClasses } from './change-classes.ts';
import { ChangeError } from './change-error.ts';
import { ChangeTally, type ChangeStatistics } from './change-statistics.ts';
import { GridMapping, type GridSpec, type StripLookup } from './grid-mapping.ts';
import { CHANGE_NODATA, changeColorTable, changeMetadata } from './transition-codes.ts';

/** Output pixels per strip. */
const STRIP_PIXELS = 1 << 20;
/** Most after pixels read for one strip (an after mask much finer than the before grid). */
const AFTER_PIXELS = 1 << 23;

export interface ChangeProgress {
  rowsDone: number;
  rowsTotal: number;
  elapsedSeconds: number;
}

export interface CompareMasksOptions {
  /** The before mask: a path, or an open source (then the caller closes it). */
  before: string | RasterSource;
  after: string | RasterSource;
  /** Names for the metadata and messages; default the file names (or "before" / "after"). */
  beforeName?: string;
  afterName?: string;
  /** Compare only inside this EPSG:4326 (Multi)Polygon, already parsed and repaired (segment-area.ts). */
  area?: Area | null;
  /** The change mask (COG); written to a temporary file and renamed into place. */
  out: string;
  signal?: AbortSignal;
  onProgress?: (p: ChangeProgress) => void;
}

export interface ChangeResult {
  before: string;
  after: string;
  output: string;
  width: number;
  height: number;
  /** The output's place in the before mask, in its pixels. */
  window: Window;
  crs: string;
  statistics: ChangeStatistics;
  overviews: number;
  seconds: number;
  peakRssMb: number;
}

interface Strip {
  y: number;
  rows: number;
  before: Promise<PixelBlock>;
  lookup: StripLookup;
  after: Promise<PixelBlock | null>;
}

function gridOf(source: RasterSource, win?: Window): GridSpec {
  const { info } = source;
  const w = win ?? { x: 0, y: 0, width: info.width, height: info.height };
  return { geoTransform: windowTransform(info.geoTransform, w), width: w.width, height: w.height, crs: info.crs };
}

/** Rows per strip: STRIP_PIXELS output pixels, fewer when each row reaches many after pixels. */
function stripRows(mapping: GridMapping): number {
  const { width, height } = mapping.grid;
  const i = Math.floor(width / 2);
  const j = Math.floor(height / 2);
  const [u0, v0] = mapping.exact(i, j);
  const [u1, v1] = mapping.exact(i + 1, j);
  const [u2, v2] = mapping.exact(i, j + 1);
  const across = Math.hypot(u1 - u0, v1 - v0);
  const down = Math.hypot(u2 - u0, v2 - v0);
  const afterPerPixel = Number.isFinite(across * down) ? Math.max(1, across) * Math.max(1, down) : 1;
  return Math.max(1, Math.min(height, Math.floor(STRIP_PIXELS / width), Math.floor(AFTER_PIXELS / (width * afterPerPixel))));
}

/** Code of each (before id << 8 | after id): the transition, or nodata for ids beyond the class list. */
function pairCodes(classCount: number): Uint8Array {
  const table = new Uint8Array(1 << 16).fill(CHANGE_NODATA);
  for (let f = 0; f < classCount; f++) for (let t = 0; t < classCount; t++) table[(f << 8) | t] = f * classCount + t;
  return table;
}

export async function compareMasks(opts: CompareMasksOptions): Promise<ChangeResult> {
  const started = performance.now();
  const opened: RasterSource[] = [];
  const open = async (s: string | RasterSource) => {
    if (typeof s !== 'string') return s;
    const src = await openRaster(s);
    opened.push(src);
    return src;
  };
  let writer: CogWriter | null = null;
  try {
    const before = await open(opts.before);
    const after = await open(opts.after);
    const beforeName = opts.beforeName ?? (typeof opts.before === 'string' ? path.basename(opts.before) : 'before');
    const afterName = opts.afterName ?? (typeof opts.after === 'string' ? path.basename(opts.after) : 'after');
    const classes = changeClasses(beforeName, before.info, afterName, after.info);

    // The area on the before grid (its window and inside-mask), and it must reach the after mask too.
    const bi = before.info;
    const ai = after.info;
    let areaWindow: Window = { x: 0, y: 0, width: bi.width, height: bi.height };
    let areaMask: ((y: number, rows: number, w: number) => Uint8Array) | null = null;
    if (opts.area) {
      const onBefore = areaOnGrid(opts.area, bi.geoTransform, bi.width, bi.height, bi.crs);
      if (!onBefore) throw new ChangeError('no-overlap', `the area does not overlap the before mask ${beforeName}`);
      if (!areaOnGrid(opts.area, ai.geoTransform, ai.width, ai.height, ai.crs)) throw new ChangeError('no-overlap', `the area does not overlap the after mask ${afterName}`);
      areaWindow = onBefore.window;
      areaMask = onBefore.mask;
    }
    const covered = new GridMapping(gridOf(before, areaWindow), gridOf(after)).coverage();
    if (!covered) throw new ChangeError('no-overlap', `the masks do not overlap${opts.area ? ' inside the area' : ''}: ${afterName} covers none of ${beforeName}`);
    const win: Window = { x: areaWindow.x + covered.x, y: areaWindow.y + covered.y, width: covered.width, height: covered.height };
    const grid = gridOf(before, win);
    const mapping = new GridMapping(grid, gridOf(after));
    const { width, height } = win;

    writer = await CogWriter.create(opts.out, {
      width,
      height,
      geoTransform: grid.geoTransform,
      geoKeys: (before instanceof GeoTiffSource ? await before.geoKeyTags() : null) ?? { epsg: bi.crs.epsg ?? 4326, geographic: bi.crs.geographic },
      nodata: CHANGE_NODATA,
      overviewResampling: 'mode',
      colorMap: changeColorTable(classes),
      bandDescription: 'transition (from * N + to)',
      metadata: changeMetadata(classes, beforeName, afterName),
    });
    const tally = await ChangeTally.create(classes, grid.geoTransform, height, bi.crs);
    const pairCode = pairCodes(classes.names.length);
    const rowsPerStrip = stripRows(mapping);
    const spare: StripLookup[] = [];

    const prepare = (y: number): Strip => {
      const rows = Math.min(rowsPerStrip, height - y);
      const lookup = spare.pop() ?? { cols: new Int32Array(rowsPerStrip * width), rows: new Int32Array(rowsPerStrip * width), window: null };
      mapping.strip(y, rows, lookup);
      const beforeBlock = before.read({ x: win.x, y: win.y + y, width, height: rows }, { bands: [1], signal: opts.signal });
      const afterBlock = lookup.window ? after.read(lookup.window, { bands: [1], signal: opts.signal }) : Promise.resolve(null);
      // Awaited in turn below; this only keeps a read abandoned by an earlier failure from crashing the process.
      beforeBlock.catch(() => undefined);
      afterBlock.catch(() => undefined);
      return { y, rows, before: beforeBlock, lookup, after: afterBlock };
    };

    let inside = 0;
    let writing: Promise<void> = Promise.resolve();
    const counts = new Uint32Array(256);
    let next: Strip | null = prepare(0);
    while (next) {
      opts.signal?.throwIfAborted();
      const strip: Strip = next;
      next = strip.y + strip.rows < height ? prepare(strip.y + strip.rows) : null;
      const [b, a] = await Promise.all([strip.before, strip.after]);
      const { cols, rows: afterRows } = strip.lookup;
      const beforeIds = b.bands[0] as Uint8Array;
      const beforeOk = b.valid;
      const afterIds = (a?.bands[0] ?? new Uint8Array(0)) as Uint8Array;
      const afterOk = a?.valid ?? new Uint8Array(0);
      const ax = a?.window.x ?? 0;
      const ay = a?.window.y ?? 0;
      const aw = a?.width ?? 0;
      const inArea = areaMask?.(win.y - areaWindow.y + strip.y, strip.rows, areaWindow.width) ?? null;
      const areaOffset = win.x - areaWindow.x;
      const codes = new Uint8Array(strip.rows * width);
      for (let r = 0; r < strip.rows; r++) {
        counts.fill(0);
        const o0 = r * width;
        const areaRow = r * areaWindow.width + areaOffset;
        for (let i = 0; i < width; i++) {
          const o = o0 + i;
          let code = CHANGE_NODATA;
          const c = cols[o]!;
          if (c >= 0) {
            inside++;
            if (beforeOk[o] && (!inArea || inArea[areaRow + i])) {
              const k = (afterRows[o]! - ay) * aw + (c - ax);
              if (afterOk[k]) {
                code = pairCode[(beforeIds[o]! << 8) | afterIds[k]!]!;
                if (code === CHANGE_NODATA) tally.unlisted++;
              }
            }
          }
          codes[o] = code;
          counts[code]++;
        }
        tally.addRow(strip.y + r, counts);
      }
      spare.push(strip.lookup);
      // One write in flight while the next strip is compared; the writer reads `codes` until it resolves.
      const w = writer;
      writing = writing.then(() => w.writeRows(codes, strip.rows));
      writing.catch(() => undefined);
      if (!next) await writing;
      opts.onProgress?.({ rowsDone: strip.y + strip.rows, rowsTotal: height, elapsedSeconds: (performance.now() - started) / 1000 });
    }
    await writing;
    // A cancel that comes in while the last strip is written still wins: nothing is committed yet.
    opts.signal?.throwIfAborted();

    const statistics = tally.result();
    if (statistics.valid_pixels === 0) {
      throw new ChangeError('no-overlap', inside === 0
        ? `the masks do not overlap${opts.area ? ' inside the area' : ''}: ${afterName} covers none of ${beforeName}`
        : `the masks overlap only where one of them is nodata${opts.area ? ' (inside the area)' : ''}: no pixel has a class in both ${beforeName} and ${afterName}`);
    }
    await writer.finish();
    const overviews = writer.overviewCount;
    writer = null;
    return {
      before: beforeName,
      after: afterName,
      output: opts.out,
      width,
      height,
      window: win,
      crs: bi.crs.epsg ? `EPSG:${bi.crs.epsg}` : bi.crs.name,
      statistics,
      overviews,
      seconds: (performance.now() - started) / 1000,
      peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
    };
  } finally {
    if (writer) await writer.abort();
    for (const s of opened) await s.close();
  }
}
