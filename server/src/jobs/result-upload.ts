/**
 * A result file uploaded by a remote worker, checked before it is placed. A mask must be a
 * class-mask COG on the grid the job should produce, which the server works out from the same
 * preparation the worker ran (prepareJob), with the model's classes; JSON must parse. Then the file
 * is renamed into the result's folder. Registering is not done here: the job registers its results
 * once, when BullMQ says it completed (bullmq-queue.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { JobStores } from './job-results.ts';
import type { JobRecord } from './job-types.ts';
import type { UploadFile } from './remote-protocol.ts';
import { windowTransform, type Crs, type GeoTransform } from '../read/raster.ts';
import { transformableProj4 } from '../read/crs-transform.ts';
import { crsLabel } from '../read/crs.ts';
import { openRaster } from '../read/open-raster.ts';
import { prepareJob } from '../segment/prepare-job.ts';
import { classMaskMetadata, jsonList, MASK_NODATA } from '../write/class-mask.ts';
import { allTransitions, transitionName } from '../change/transition-codes.ts';
import { ResultUploadError } from '../errors.ts';

/** Which of a job's results an id is. */
export type ResultRole = 'segment' | 'change' | 'before' | 'after';

export function roleOf(job: JobRecord, resultId: string): ResultRole | null {
  if (resultId === job.id) return job.beforeId ? 'change' : 'segment';
  if (resultId === job.extraResults?.before) return 'before';
  if (resultId === job.extraResults?.after) return 'after';
  return null;
}

export interface ExpectedMask {
  width: number;
  height: number;
  /** False for a change mask: it is clipped to what both scenes cover, so width and height are the most it may be. */
  exact: boolean;
  geoTransform: GeoTransform;
  /** The grid's CRS: a mask relabelled in another one was registered, and could not be placed on a map. */
  crs: Crs;
  classes: string[];
  /** A change mask's transition names (from * N + to). */
  transitions: string[] | null;
}

/** The grid and classes of the mask a job writes for `role`, as the worker's run prepares it. */
export async function expectedMask(stores: JobStores, job: JobRecord, role: ResultRole): Promise<ExpectedMask> {
  const model = stores.models.get(job.modelId);
  // A change mask lies on the before scene's grid, as does the before mask.
  const datasetId = role === 'change' || role === 'before' ? job.beforeId! : job.datasetId;
  const reader = await stores.datasets.open(datasetId);
  const o = job.options;
  const prepared = await prepareJob(reader, model, {
    area: job.area ?? undefined, tile: o.tile, overlap: o.overlap, batch: o.batch, bands: o.bands, sensor: o.sensor, allowUnsuitable: o.allowUnsuitable,
  });
  const { window } = prepared;
  return {
    width: window.width,
    height: window.height,
    exact: role !== 'change',
    geoTransform: windowTransform(prepared.info.geoTransform, window),
    crs: reader.info.crs,
    classes: model.classNames,
    transitions: role === 'change' ? allTransitions({ names: model.classNames, colors: model.classColors, model: model.id }).map(transitionName) : null,
  };
}

/** The first "color" anywhere in `value` that is neither null nor #rrggbb; null when there is none. */
function badColor(value: unknown): unknown {
  const stack = [value];
  while (stack.length) {
    const v = stack.pop();
    if (v === null || typeof v !== 'object') continue;
    for (const [k, x] of Object.entries(v)) {
      if (k === 'color' && x !== null && !(typeof x === 'string' && /^#[0-9a-f]{6}$/i.test(x))) return x;
      stack.push(x);
    }
  }
  return null;
}

const near = (a: number, b: number, scale: number) => Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(scale));

/** Throws ResultUploadError('invalid') naming the first way `file` differs from the mask wanted. */
export async function checkMask(file: string, want: ExpectedMask): Promise<void> {
  const bad = (why: string) => new ResultUploadError('invalid', `the uploaded mask.tif ${why}`);
  let source;
  try {
    source = await openRaster(file);
  } catch (err) {
    throw bad(`is not a readable GeoTIFF: ${(err as Error).message.split('\n')[0]}`);
  }
  try {
    const { info } = source;
    if (info.bandCount !== 1 || info.dtype !== 'uint8' || info.nodata !== MASK_NODATA) throw bad(`must be one uint8 band with nodata ${MASK_NODATA} (got ${info.bandCount} ${info.dtype} band(s), nodata ${info.nodata})`);
    // A COG: square tiles, and overviews once the image is larger than one tile.
    const tiled = info.blockWidth === info.blockHeight && info.blockWidth % 16 === 0;
    if (!tiled || (Math.max(info.width, info.height) > info.blockWidth && info.overviews.length === 0)) throw bad('is not a Cloud-Optimized GeoTIFF (tiled, with overviews)');
    if (transformableProj4(info.crs) !== transformableProj4(want.crs)) throw bad(`is in ${crsLabel(info.crs)}, not the job's ${crsLabel(want.crs)}`);
    const gt = info.geoTransform;
    const w = want.geoTransform;
    if (!near(gt[1], w[1], w[1]) || !near(gt[5], w[5], w[5]) || gt[2] !== w[2] || gt[4] !== w[4]) throw bad(`has pixels of ${gt[1]} x ${gt[5]}, not the job's ${w[1]} x ${w[5]}`);
    if (want.exact) {
      if (info.width !== want.width || info.height !== want.height) throw bad(`is ${info.width} x ${info.height} px; the job's area is ${want.width} x ${want.height} px`);
      if (!near(gt[0], w[0], w[1]) || !near(gt[3], w[3], w[5])) throw bad(`is placed at (${gt[0]}, ${gt[3]}), not at the job's (${w[0]}, ${w[3]})`);
    } else {
      const dx = (gt[0] - w[0]) / w[1];
      const dy = (gt[3] - w[3]) / w[5];
      const whole = (v: number) => Math.abs(v - Math.round(v)) < 1e-6;
      if (!whole(dx) || !whole(dy) || Math.round(dx) < 0 || Math.round(dy) < 0
        || Math.round(dx) + info.width > want.width || Math.round(dy) + info.height > want.height) {
        throw bad(`(${info.width} x ${info.height} px) does not lie within the job's ${want.width} x ${want.height} px grid`);
      }
    }
    const classes = classMaskMetadata(info)?.classNames ?? null;
    if (!classes || JSON.stringify(classes) !== JSON.stringify(want.classes)) throw bad(`lists the classes ${JSON.stringify(classes)}, not the model's ${JSON.stringify(want.classes)}`);
    if (want.transitions && JSON.stringify(jsonList(info.metadata.TRANSITION_NAMES)) !== JSON.stringify(want.transitions)) throw bad('lacks the transitions of a change mask');
    // Decoding the smallest level, and the last block of the full one (a COG stores it last),
    // catches a file cut short or garbled after its header without decoding all of it.
    const level = source.levelCount - 1;
    const size = source.levelSize(level);
    const lastX = Math.floor((info.width - 1) / info.blockWidth) * info.blockWidth;
    const lastY = Math.floor((info.height - 1) / info.blockHeight) * info.blockHeight;
    let decoded;
    try {
      decoded = [
        await source.read({ x: 0, y: 0, width: size.width, height: size.height }, { level, nodataInvalid: false }),
        await source.read({ x: lastX, y: lastY, width: info.width - lastX, height: info.height - lastY }, { nodataInvalid: false }),
      ];
    } catch (err) {
      throw bad(`cannot be decoded: ${(err as Error).message.split('\n')[0]}`);
    }
    // And what they hold is the model's classes (or their transitions): ids beyond them became
    // polygons of classes "30" and "232" (probe). Only these blocks: the whole mask is not decoded.
    const codes = want.transitions ? want.transitions.length : want.classes.length;
    for (const block of decoded) {
      const beyond = (block.bands[0] as Uint8Array).find((v) => v >= codes && v !== MASK_NODATA);
      if (beyond !== undefined) throw bad(`holds the value ${beyond}, beyond the ${codes} ${want.transitions ? 'transition codes' : 'classes'} of the job's model`);
    }
  } finally {
    await source.close();
  }
}

/** stats.json must be a JSON object; features.geojson must open as a FeatureCollection (not parsed whole: it may be large). */
export async function checkJson(file: string, name: Exclude<UploadFile, 'mask.tif'>): Promise<void> {
  if (name === 'stats.json') {
    let value: unknown;
    try {
      value = JSON.parse(await fs.promises.readFile(file, 'utf8'));
    } catch (err) {
      throw new ResultUploadError('invalid', `the uploaded stats.json is not JSON: ${(err as Error).message}`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ResultUploadError('invalid', 'the uploaded stats.json is not a JSON object');
    // Colours reach the viewer's style attributes: only hex ones (probe: a worker's
    // "red;background-image:url(…)" made the viewer fetch its URL).
    const color = badColor(value);
    if (color !== null) throw new ResultUploadError('invalid', `the uploaded stats.json has the colour ${JSON.stringify(color).slice(0, 80)}, not a hex colour like "#1F78B4"`);
    return;
  }
  const handle = await fs.promises.open(file, 'r');
  try {
    const head = Buffer.alloc(256);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    if (!/^\s*\{\s*"type"\s*:\s*"FeatureCollection"/.test(head.subarray(0, bytesRead).toString('utf8'))) {
      throw new ResultUploadError('invalid', 'the uploaded features.geojson is not a GeoJSON FeatureCollection');
    }
  } finally {
    await handle.close();
  }
}

/**
 * Check an uploaded file of result `resultId` of `job` and move it into the result's folder
 * (replacing an earlier upload of the same file: a job retried on another worker uploads again).
 * The temporary file is gone afterwards, placed or not.
 */
export async function placeResultFile(stores: JobStores, job: JobRecord, resultId: string, name: UploadFile, tempPath: string): Promise<void> {
  try {
    const role = roleOf(job, resultId);
    if (!role) throw new ResultUploadError('not-expected', `job ${job.id} does not produce result ${resultId}`);
    if (name === 'mask.tif') await checkMask(tempPath, await expectedMask(stores, job, role));
    else await checkJson(tempPath, name);
    // Into the folder made when the job was placed: never made again here (a job failed while its
    // upload was checked had its folder removed, and an upload made it again, for good).
    await fs.promises.rename(tempPath, path.join(stores.results.dirOf(resultId), name));
  } finally {
    await fs.promises.rm(tempPath, { force: true });
  }
}
