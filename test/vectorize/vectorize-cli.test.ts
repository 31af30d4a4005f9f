/**
 * `satseg vectorize` as registered on a commander program (the same registration main.ts uses).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Command } from 'commander';
import { registerVectorizeCommand } from '../../server/src/cli/vectorize-command.ts';
import { CogWriter } from '../../server/src/write/cog-writer.ts';

let tmp: string;
let mask: string;
beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'satseg-vcli-'));
  mask = path.join(tmp, 'mask.tif');
  const w = await CogWriter.create(mask, {
    width: 12, height: 10, geoTransform: [500000, 10, 0, 4000000, 0, -10], geoKeys: { epsg: 32618, geographic: false }, nodata: 255,
    blockSize: 16, overviewResampling: 'mode', metadata: { CLASS_NAMES: '["field","building","water"]' },
  });
  const rows = new Uint8Array(120).map((_, i) => (i % 12 > 7 ? 2 : i > 60 && i % 12 < 3 ? 1 : 0));
  await w.writeRows(rows, 10);
  await w.finish();
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function run(...args: string[]): Promise<string> {
  const program = new Command().exitOverride();
  registerVectorizeCommand(program);
  const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  try {
    await program.parseAsync(['node', 'satseg', 'vectorize', ...args]);
    return write.mock.calls.map((c) => String(c[0])).join('');
  } finally {
    write.mockRestore();
  }
}

describe('satseg vectorize', () => {
  it('prints a one-line summary with features per class, time and peak memory', async () => {
    const out = path.join(tmp, 'v.geojson');
    const text = await run(mask, '--out', out);
    expect(text.trim().split('\n')).toHaveLength(1);
    expect(text).toMatch(/^Vectorized mask\.tif \(12 x 10 px\): 3 features \(field 1, building 1, water 1\); simplify 1 px; [\d.]+ s, peak memory \d+ MB\. Wrote .*v\.geojson \(GeoJSON, EPSG:4326\)\.\n$/);
    expect(fs.existsSync(out)).toBe(true);
  });

  it('--json prints the same summary as JSON; --classes, --min-area and --simplify are honoured', async () => {
    const out = path.join(tmp, 'v.fgb');
    const s = JSON.parse(await run(mask, '--out', out, '--classes', 'building,water', '--min-area', '0', '--simplify', '0', '--json'));
    expect(s).toMatchObject({ format: 'flatgeobuf', crs: 'EPSG:32618', features: 2, featuresByClass: { building: 1, water: 1 }, simplifyPx: 0, minAreaM2: 0 });
    expect(s.seconds).toBeGreaterThan(0);
    expect(s.peakRssMb).toBeGreaterThan(0);
  });

  it('applies SATSEG_MAX_FEATURES where it is set, and no limit where it is not', async () => {
    const out = path.join(tmp, 'limited.geojson');
    process.env.SATSEG_MAX_FEATURES = '2';
    try {
      await expect(run(mask, '--out', out, '--min-area', '0')).rejects.toThrow(/^the mask makes more than 2 polygons, the most a result may have \(SATSEG_MAX_FEATURES\); raise min_area_m2 \(--min-area\)/);
      expect(fs.existsSync(out)).toBe(false);
    } finally {
      delete process.env.SATSEG_MAX_FEATURES;
    }
    expect(await run(mask, '--out', out, '--min-area', '0')).toMatch(/: 3 features/);
  });

  it('fails with one clear line for bad options', async () => {
    await expect(run(mask, '--out', path.join(tmp, 'x.geojson'), '--min-area', 'lots')).rejects.toThrow('--min-area must be a number >= 0 (got "lots")');
    await expect(run(mask, '--out', path.join(tmp, 'x.geojson'), '--classes', 'forest'))
      .rejects.toThrow('unknown class "forest" in --classes; valid names: field, building, water (or class ids)');
    expect(fs.existsSync(path.join(tmp, 'x.geojson'))).toBe(false);
    // A problem of the mask file names the file.
    await expect(run(path.join(tmp, 'nope.tif'), '--out', path.join(tmp, 'x.geojson'))).rejects.toThrow(/^nope\.tif: no such file$/);
  });
});
