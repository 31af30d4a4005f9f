/**
 * The server's on-request polygons are made in a worker thread: the same file as vectorizeMask
 * and changePolygons write in the calling thread, and their errors keep their kind and code (so
 * the HTTP layer answers them as before).
 */
import fs from 'node:fs';
import { getEventListeners } from 'node:events';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CogWriter } from '../../server/src/write/cog-writer.ts';
import { vectorizeInThread } from '../../server/src/vectorize/vectorize-in-thread.ts';
import { vectorizeMask } from '../../server/src/vectorize/vectorize-mask.ts';
import { RasterError, VectorizeError } from '../../server/src/errors.ts';

let tmp: string;
let board: string;
beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'satseg-vthread-'));
  board = path.join(tmp, 'board.tif');
  const [width, height] = [40, 20];
  const w = await CogWriter.create(board, {
    width, height, geoTransform: [500000, 10, 0, 4000000, 0, -10], geoKeys: { epsg: 32618, geographic: false }, nodata: 255,
    blockSize: 16, overviewResampling: 'mode', metadata: { CLASS_NAMES: '["field","building","water"]' },
  });
  // Blocks of 4 x 4 px in a checkerboard of classes 1 and 2: 50 polygons of 160 m² each.
  const rows = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) rows[y * width + x] = ((x >> 2) + (y >> 2)) % 2 ? 1 : 2;
  await w.writeRows(rows, height);
  await w.finish();
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('vectorizeInThread', () => {
  it('writes what vectorizeMask writes in the calling thread', async () => {
    const here = path.join(tmp, 'here.geojson');
    const there = path.join(tmp, 'there.geojson');
    const n = await vectorizeInThread({ kind: 'classes', mask: board, out: there });
    expect(n).toBe((await vectorizeMask({ mask: board, out: here })).features);
    expect(n).toBe(50);
    expect(fs.readFileSync(there, 'utf8')).toBe(fs.readFileSync(here, 'utf8'));
  });

  it('leaves no listener on a signal that outlives it (a job\'s, over many threads)', async () => {
    const job = new AbortController();
    for (let i = 0; i < 3; i++) await vectorizeInThread({ kind: 'classes', mask: board, out: path.join(tmp, `signal-${i}.geojson`) }, job.signal);
    await expect(vectorizeInThread({ kind: 'classes', mask: board, out: path.join(tmp, 'signal-x.geojson'), maxFeatures: 1 }, job.signal)).rejects.toBeInstanceOf(VectorizeError);
    expect(getEventListeners(job.signal, 'abort')).toHaveLength(0);
  });

  it('keeps only the classes asked for', async () => {
    expect(await vectorizeInThread({ kind: 'classes', mask: board, out: path.join(tmp, 'water.geojson'), classes: ['water'] })).toBe(25);
  });

  it('hands back errors with their kind and code', async () => {
    await expect(vectorizeInThread({ kind: 'classes', mask: board, out: path.join(tmp, 'capped.geojson'), maxFeatures: 10 }))
      .rejects.toSatisfy((e: unknown) => e instanceof VectorizeError && e.code === 'too-many-features' && /more than 10 polygons/.test(e.message));
    expect(fs.existsSync(path.join(tmp, 'capped.geojson'))).toBe(false);
    await expect(vectorizeInThread({ kind: 'classes', mask: path.join(tmp, 'missing.tif'), out: path.join(tmp, 'x.geojson') }))
      .rejects.toBeInstanceOf(RasterError);
    // A system error keeps its code across the thread (ENOSPC becomes a 507 in the server): here
    // an output "folder" that is a file.
    await expect(vectorizeInThread({ kind: 'classes', mask: board, out: path.join(board, 'x.geojson') }))
      .rejects.toMatchObject({ code: 'ENOTDIR' });
  });
});
