/**
 * Before/after change detection between two class masks of the same model.
 *
 * The comparison runs on the before mask's grid, clipped to the area (when one is given) and to
 * the part the after mask covers. The after mask is resampled onto that grid by nearest neighbour
 * (GridMapping): class ids are picked, never interpolated. Each output pixel gets the transition
 * code `from * N + to` (unchanged pixels keep `c * N + c`, see transition-codes.ts), or nodata 255
 * where either mask is nodata, outside either scene, or outside the area.
 *
 * Rows stream through in strips: a strip of the before mask, cut into column blocks that each read
 * the after window their pixels fall in, then the codes, the tally, the COG writer. The next
 * two are read while this one is compared and written, so decoding, comparing and compressing overlap.
 * Memory is a few strips, whatever the size of the masks: an after mask much finer than the
 * before grid is read from an overview (afterLevel), and the column blocks keep the after windows
 * of grids rotated against each other from spanning many rows.
 */
import path from 'node:path';
import type { PixelBlock, Window } from '../read/raster.ts';
import { windowTransform } from '../read/raster.ts';
import type { RasterSource } from '../read/raster-source.ts';
import { openRaster } from '../read/open-raster.ts';
import { crsLabel } from '../read/crs.ts';
import { geoKeysOf } from '../write/class-mask.ts';
import { areaOnGrid, type Area } from '../segment/segment-area.ts';
import type { CogRowWriter } from '../write/cog-writer.ts';
import { CogWriterThread } from '../write/cog-writer-thread.ts';
import { changeClasses } from './change-classes.ts';
import { ChangeError } from '../errors.ts';
import { ChangeTally, type ChangeStatistics } from './change-statistics.ts';
import { GridMapping, windowGrid, type GridSpec, type StripMap } from './grid-mapping.ts';
import { CHANGE_NODATA, changeColorTable, changeMetadata } from './transition-codes.ts';
import { encodeTransitions, pairCodes, transitionCodesPresent } from './encode-transitions.ts';

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

/** Strips being read while one is compared. */
const READ_AHEAD = 2;

/**
 * Output columns per block of a strip: each block reads its own after window, and is tallied with
 * the pixel area at its middle; narrower where that area changes along a row (a projection whose
 * scale departs from 1).
 */
const PART_COLUMNS = 2048;
const PART_COLUMNS_VARYING_AREA = 256;

interface Strip {
  y: number;
  rows: number;
  before: Promise<PixelBlock>;
  parts: Array<{ map: StripMap; after: Promise<PixelBlock | null> }>;
}

function gridOf(source: RasterSource, win?: Window): GridSpec {
  return windowGrid(source.info, win);
}

/** After pixels per output pixel along the output's rows and columns, at the grid's centre (1 where unknown). */
function afterScale(mapping: GridMapping): { across: number; down: number } {
  const i = Math.floor(mapping.grid.width / 2);
  const j = Math.floor(mapping.grid.height / 2);
  const [u0, v0] = mapping.exact(i, j);
  const [u1, v1] = mapping.exact(i + 1, j);
  const [u2, v2] = mapping.exact(i, j + 1);
  const across = Math.hypot(u1 - u0, v1 - v0);
  const down = Math.hypot(u2 - u0, v2 - v0);
  return Number.isFinite(across * down) && across > 0 && down > 0 ? { across, down } : { across: 1, down: 1 };
}

/**
 * The after level to sample. An after mask more than twice as fine as the output grid is read
 * from its coarsest overview still at least as fine (gdalwarp's -ovr AUTO): otherwise a row of
 * output would read a band of after pixels as wide as the ratio, squared. A class mask's overviews
 * are modes of 2 x 2 blocks, so the ids picked are still real classes, never interpolated ones.
 */
function afterLevel(after: RasterSource, scale: { across: number; down: number }): number {
  const wanted = Math.min(scale.across, scale.down);
  let best = 0;
  for (let l = 1; l < after.levelCount; l++) if (after.info.width / after.levelSize(l).width <= wanted * 1.0001) best = l;
  return best;
}

/** The grid of an overview level: the same extent in fewer, larger pixels. */
function levelGrid(source: RasterSource, level: number): GridSpec {
  const { info } = source;
  const { width, height } = source.levelSize(level);
  const gt = windowTransform(info.geoTransform, { x: 0, y: 0, width, height }, info.width / width, info.height / height);
  return { geoTransform: gt, width, height, crs: info.crs };
}

/** Rows per strip: STRIP_PIXELS output pixels, fewer when each row reaches many after pixels. */
function stripRows(mapping: GridMapping): number {
  const { width, height } = mapping.grid;
  const { across, down } = afterScale(mapping);
  const afterPerPixel = Math.max(1, across) * Math.max(1, down);
  return Math.max(1, Math.min(height, Math.floor(STRIP_PIXELS / width), Math.floor(AFTER_PIXELS / (width * afterPerPixel))));
}

/** The nodata value when it alone says which pixels are invalid (no mask band, no alpha). */
function nodataOnly(source: RasterSource): { nodata: number | null; needsMask: boolean } {
  const { maskKind, nodata } = source.info;
  const byValue = maskKind === 'nodata' || maskKind === 'none';
  return { nodata: nodata !== null && Number.isInteger(nodata) && nodata >= 0 && nodata <= 255 ? nodata : null, needsMask: !byValue };
}

interface ComparisonPlan {
  /** The output: a window of the before mask. */
  win: Window;
  /** The area's window of the before mask (the whole mask without an area) and its inside-mask. */
  areaWindow: Window;
  areaMask: ((y: number, rows: number, w: number) => Uint8Array) | null;
  /** Output pixels → pixels of the after level sampled. */
  mapping: GridMapping;
  level: number;
}

/**
 * Where the comparison runs: the area's window of the before grid, clipped to what the after mask
 * covers; and how the after mask is sampled. Throws no-overlap when the area misses either mask
 * or the masks miss each other.
 */
function planComparison(before: RasterSource, beforeName: string, after: RasterSource, afterName: string, area: Area | null): ComparisonPlan {
  const bi = before.info;
  const ai = after.info;
  let areaWindow: Window = { x: 0, y: 0, width: bi.width, height: bi.height };
  let areaMask: ComparisonPlan['areaMask'] = null;
  if (area) {
    const onBefore = areaOnGrid(area, bi.geoTransform, bi.width, bi.height, bi.crs);
    if (!onBefore) throw new ChangeError('no-overlap', `the area does not overlap the before mask ${beforeName}`);
    if (!areaOnGrid(area, ai.geoTransform, ai.width, ai.height, ai.crs)) throw new ChangeError('no-overlap', `the area does not overlap the after mask ${afterName}`);
    areaWindow = onBefore.window;
    areaMask = onBefore.mask;
  }
  const covered = new GridMapping(gridOf(before, areaWindow), gridOf(after)).coverage();
  if (!covered) throw new ChangeError('no-overlap', `the masks do not overlap${area ? ' inside the area' : ''}: ${afterName} covers none of ${beforeName}`);
  const win: Window = { x: areaWindow.x + covered.x, y: areaWindow.y + covered.y, width: covered.width, height: covered.height };
  const grid = gridOf(before, win);
  const level = afterLevel(after, afterScale(new GridMapping(grid, gridOf(after))));
  return { win, areaWindow, areaMask, mapping: new GridMapping(grid, levelGrid(after, level)), level };
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
  let writer: CogRowWriter | null = null;
  try {
    const before = await open(opts.before);
    const after = await open(opts.after);
    const beforeName = opts.beforeName ?? (typeof opts.before === 'string' ? path.basename(opts.before) : 'before');
    const afterName = opts.afterName ?? (typeof opts.after === 'string' ? path.basename(opts.after) : 'after');
    const classes = changeClasses(beforeName, before.info, afterName, after.info);

    const { win, areaWindow, areaMask, mapping, level } = planComparison(before, beforeName, after, afterName, opts.area ?? null);
    const bi = before.info;
    const grid = mapping.grid;
    const { width, height } = win;

    writer = await CogWriterThread.create(opts.out, {
      width,
      height,
      geoTransform: grid.geoTransform,
      geoKeys: geoKeysOf(bi.crs),
      nodata: CHANGE_NODATA,
      overviewResampling: 'mode',
      colorMap: changeColorTable(classes),
      bandDescription: 'transition (from * N + to)',
      metadata: changeMetadata(classes, beforeName, afterName),
    });
    const tally = await ChangeTally.create(classes, grid.geoTransform, { width, height }, bi.crs);
    const partColumns = tally.variesAlongRows ? PART_COLUMNS_VARYING_AREA : PART_COLUMNS;
    const beforeValidity = nodataOnly(before);
    const afterValidity = nodataOnly(after);
    // Blocks are read inside each raster, so with validity by nodata value the table already knows
    // every invalid pixel; the reader is spared marking them (nodataInvalid: false).
    const pairCode = pairCodes(classes.names.length, beforeValidity.nodata, afterValidity.nodata);
    const codesPresent = transitionCodesPresent(classes.names.length);
    const rowsPerStrip = stripRows(mapping);

    const prepare = (y: number): Strip => {
      const rows = Math.min(rowsPerStrip, height - y);
      const beforeBlock = before.read({ x: win.x, y: win.y + y, width, height: rows }, { bands: [1], nodataInvalid: false, signal: opts.signal });
      // Awaited in turn below; these only keep a read abandoned by an earlier failure from crashing the process.
      beforeBlock.catch(() => undefined);
      const strip = mapping.strip(y, rows);
      const parts: Strip['parts'] = [];
      // A block whose after window is over AFTER_PIXELS is halved until it fits (a window is the
      // box around its pixels' footprint: a row lying diagonally across a much finer after mask
      // without overviews made one of 14,000² pixels, and 2.1 GB, from a 640 KB file). A single
      // column's window is its pixels' own footprint.
      const addPart = (x0: number, x1: number) => {
        const map = strip.part(x0, x1);
        const w = map.window;
        if (w && w.width * w.height > AFTER_PIXELS && x1 - x0 > 1) {
          const middle = Math.floor((x0 + x1) / 2);
          addPart(x0, middle);
          addPart(middle, x1);
          return;
        }
        const afterBlock = w ? after.read(w, { bands: [1], level, nodataInvalid: false, signal: opts.signal }) : Promise.resolve(null);
        afterBlock.catch(() => undefined);
        parts.push({ map, after: afterBlock });
      };
      for (let x0 = 0; x0 < width; x0 += partColumns) addPart(x0, Math.min(width, x0 + partColumns));
      return { y, rows, before: beforeBlock, parts };
    };

    let inside = 0;
    let writing: Promise<void> = Promise.resolve();
    // Code buffers in turn: the writer reads one until its write resolves, while the next is filled.
    const buffers = Array.from({ length: 3 }, () => ({ codes: new Uint8Array(rowsPerStrip * width), written: Promise.resolve() }));
    let stripIndex = 0;
    const counts = new Uint32Array(256);
    const index = new Int32Array(Math.min(width, partColumns));
    const areaOffset = win.x - areaWindow.x;
    // Strips read ahead of the one compared: decoding runs on libuv's threads meanwhile.
    const ahead: Strip[] = [];
    let nextY = 0;
    const readAhead = () => { while (ahead.length < READ_AHEAD && nextY < height) { const s = prepare(nextY); ahead.push(s); nextY += s.rows; } };
    readAhead();
    while (ahead.length) {
      opts.signal?.throwIfAborted();
      const strip: Strip = ahead.shift()!;
      readAhead();
      const next = ahead.length > 0;
      const b = await strip.before;
      const beforeIds = b.bands[0] as Uint8Array;
      const inArea = areaMask?.(win.y - areaWindow.y + strip.y, strip.rows, areaWindow.width) ?? null;
      const buffer = buffers[stripIndex++ % buffers.length]!;
      await buffer.written;
      const codes = buffer.codes.subarray(0, strip.rows * width).fill(CHANGE_NODATA);
      for (const part of strip.parts) {
        const a = await part.after;
        if (!a) {
          // No after pixel under this block: all nodata, already in `codes`.
          for (let r = 0; r < strip.rows; r++) { counts.fill(0); counts[CHANGE_NODATA] = part.map.x1 - part.map.x0; tally.addRow(strip.y + r, counts, (part.map.x0 + part.map.x1) / 2); }
          continue;
        }
        inside += encodeTransitions({
          map: part.map, y: strip.y, rows: strip.rows, width,
          beforeIds, afterIds: a.bands[0] as Uint8Array,
          beforeOk: beforeValidity.needsMask ? b.valid : null, afterOk: afterValidity.needsMask ? a.valid : null,
          inArea, areaStride: areaWindow.width, areaOffset, pairCode, codesPresent, codes, tally,
        }, index, counts);
      }
      // One write in flight while the next strip is compared; the writer reads `codes` until it resolves.
      const w = writer;
      writing = writing.then(() => w.writeRows(codes, strip.rows));
      writing.catch(() => undefined);
      buffer.written = writing;
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
      crs: crsLabel(bi.crs),
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
