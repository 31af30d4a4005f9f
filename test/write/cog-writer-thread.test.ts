/**
 * CogWriterThread: the same COG as CogWriter, byte for byte, from rows the caller reuses; errors
 * from the thread reach the caller as errors; an abort leaves nothing behind.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CogWriter, type CogOptions, type CogRowWriter } from '../../server/src/write/cog-writer.ts';
import { CogWriterThread } from '../../server/src/write/cog-writer-thread.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'satseg-cog-thread-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const W = 700;
const H = 530;
const options: CogOptions = {
  width: W, height: H, geoTransform: [500000, 5, 0, 4000000, 0, -5], geoKeys: { epsg: 32618, geographic: false },
  nodata: 255, blockSize: 256, colorMap: [[255, 0, 0], [0, 255, 0], [0, 0, 255]], metadata: { CLASS_NAMES: '["a","b","c"]' },
  overviewResampling: 'mode',
};

/** Rows of a pattern, 41 at a time through one buffer that is overwritten after each call. */
async function writeRows(w: CogRowWriter): Promise<void> {
  const rows = new Uint8Array(41 * W);
  for (let y = 0; y < H; y += 41) {
    const n = Math.min(41, H - y);
    for (let r = 0; r < n; r++) for (let x = 0; x < W; x++) rows[r * W + x] = ((x >> 4) + ((y + r) >> 5)) % 4 === 3 ? 255 : ((x >> 3) ^ (y + r)) % 3;
    await w.writeRows(rows, n);
  }
}

const leftovers = () => fs.readdirSync(tmp).filter((f) => f.includes('satseg-tmp'));

describe('CogWriterThread', () => {
  it('writes the same bytes as CogWriter', async () => {
    const here = await CogWriter.create(path.join(tmp, 'here.tif'), options);
    await writeRows(here);
    await here.finish();
    const there = await CogWriterThread.create(path.join(tmp, 'there.tif'), options);
    expect(there.overviewCount).toBe(here.overviewCount);
    await writeRows(there);
    await there.finish();
    await there.abort(); // after finish: nothing to do, as with CogWriter
    expect(fs.readFileSync(path.join(tmp, 'there.tif')).equals(fs.readFileSync(path.join(tmp, 'here.tif')))).toBe(true);
    expect(leftovers()).toEqual([]);
  });

  it('rejects with the thread\'s error: a missing folder, too many rows', async () => {
    await expect(CogWriterThread.create(path.join(tmp, 'nowhere', 'x.tif'), options)).rejects.toThrow(/output folder does not exist/);
    const out = path.join(tmp, 'too-many.tif');
    const w = await CogWriterThread.create(out, { ...options, height: 40 });
    // The rows are queued; the failure comes back on this call or the next.
    const failure = await (async () => { await w.writeRows(new Uint8Array(41 * W), 41); await w.finish(); })().then(() => null, (e: unknown) => e);
    expect((failure as Error).message).toMatch(/too many rows: 41 > 40/);
    await w.abort();
    expect(fs.existsSync(out)).toBe(false);
    expect(leftovers()).toEqual([]);
  });

  it('leaves nothing at the output when aborted half way', async () => {
    const out = path.join(tmp, 'aborted.tif');
    const w = await CogWriterThread.create(out, options);
    await w.writeRows(new Uint8Array(100 * W), 100);
    await w.abort();
    expect(fs.existsSync(out)).toBe(false);
    expect(leftovers()).toEqual([]);
    await expect(w.writeRows(new Uint8Array(W), 1)).rejects.toThrow(/ended/);
  });

  it('fails the finish when an earlier row failed, even if the rows already written fill the raster', async () => {
    const out = path.join(tmp, 'overflow.tif');
    const w = await CogWriterThread.create(out, { ...options, height: 4 });
    await w.writeRows(new Uint8Array(4 * W), 4);
    await w.writeRows(new Uint8Array(4 * W), 4); // queued: fails on the thread
    await expect(w.finish()).rejects.toThrow(/too many rows: 8 > 4/);
    expect(fs.existsSync(out)).toBe(false);
    expect(leftovers()).toEqual([]);
  });

  it('removes its temporary folder when the thread died, and leaves a Node Buffer it was given intact', async () => {
    const out = path.join(tmp, 'died.tif');
    const w = await CogWriterThread.create(out, options);
    const rows = Buffer.alloc(10 * W, 1);
    await w.writeRows(rows, 10);
    expect(rows.length).toBe(10 * W);
    expect(leftovers()).toHaveLength(1);
    // Fault injection: the thread ends as if it had crashed.
    await (w as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
    await expect(w.writeRows(rows, 10)).rejects.toThrow(/stopped/);
    await w.abort();
    expect(fs.existsSync(out)).toBe(false);
    expect(leftovers()).toEqual([]);
  });
});

