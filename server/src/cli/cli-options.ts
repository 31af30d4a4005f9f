/**
 * Command-line options are validated once, here, with zod (as the API's requests are): each
 * command declares a schema of its flags, and a bad value exits with one line naming the flag.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { UsageError } from '../errors.ts';
import { checkOutputPath as checkWritableOutput } from '../write/atomic-file.ts';
import type { RasterSource } from '../read/raster-source.ts';
import { MAX_BAND_OFFSET } from '../segment/band-offset.ts';

/** A whole number from a flag's text, at least `min`. */
export const intFlag = (min = 0, max = Number.MAX_SAFE_INTEGER) => z.string().trim().regex(/^\d+$/, `must be a whole number >= ${min}`).transform(Number)
  .refine((n) => n >= min, `must be at least ${min}`).refine((n) => n <= max, `must be at most ${max}`);
/** A number >= 0 from a flag's text. */
export const numberFlag = z.string().trim().refine((v) => v !== '' && Number.isFinite(Number(v)) && Number(v) >= 0, 'must be a number >= 0').transform(Number);
/** A number added to band values (--offset): any sign, within ±MAX_BAND_OFFSET. */
export const offsetFlag = z.string().trim().refine((v) => v !== '' && Number.isFinite(Number(v)) && Math.abs(Number(v)) <= MAX_BAND_OFFSET, `must be a number within ±${MAX_BAND_OFFSET}`).transform(Number);
/** "1,2,3": 1-based band numbers. */
export const bandList = z.string().regex(/^\s*\d+\s*(,\s*\d+\s*)*$/, 'must list 1-based band numbers like 1,2,3').transform((s) => s.split(',').map((b) => Number(b.trim())))
  .refine((bands) => bands.every((b) => b >= 1), 'band numbers start at 1');
/** "w,s,e,n" in degrees. */
export const bboxFlag = z.string().transform((s) => s.split(',').map((v) => Number(v.trim())))
  .refine((v) => v.length === 4 && v.every(Number.isFinite), 'must be west,south,east,north in degrees')
  // Named here, before the area checks: -200 as a west otherwise read as "west must be less than east".
  .refine((v) => [v[0]!, v[2]!].every((lon) => lon >= -180 && lon <= 180), 'longitudes must be within -180..180')
  .refine((v) => [v[1]!, v[3]!].every((lat) => lat >= -90 && lat <= 90), 'latitudes must be within -90..90');
export const deviceFlag = z.enum(['auto', 'cpu', 'cuda'], { message: 'must be auto, cpu or cuda' });

/** Parse a command's options with its schema; the first problem becomes a UsageError naming the flag. */
export function parseFlags<T extends z.ZodType>(schema: T, options: unknown): z.infer<T> {
  const r = schema.safeParse(options);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const flag = issue.path.length ? `--${String(issue.path[0]).replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}` : 'options';
  const given = issue.path.length ? (options as Record<string, unknown>)[String(issue.path[0])] : undefined;
  throw new UsageError(`${flag} ${issue.message}${given !== undefined ? ` (got "${String(given).slice(0, 60)}")` : ''}`);
}

/** write/atomic-file.ts's output check (folder exists, a regular file or nothing there), the message naming the flag. */
export function checkOutputPath(file: string, flag: string): void {
  try {
    checkWritableOutput(file);
  } catch (err) {
    throw new UsageError(`${flag}: ${(err as Error).message}`);
  }
}

/** No two of the files written the same, and none of them an input: checked before anything is written. */
export function checkDistinctFiles(inputs: string[], outputs: Array<[string, string | undefined]>): void {
  // The real path where a file exists: a link to an input is that input.
  const real = (f: string) => { try { return fs.realpathSync(f); } catch { return path.resolve(f); } };
  const written = outputs.filter((o): o is [string, string] => o[1] !== undefined);
  written.forEach(([what, file], i) => {
    const input = inputs.find((x) => real(x) === real(file));
    if (input) throw new UsageError(`${what} ${file} is an input; choose another file`);
    const same = written.slice(0, i).find(([, other]) => real(other) === real(file));
    if (same) throw new UsageError(`${same[0]} and ${what} name the same file, ${file}; choose another`);
  });
}

/** The GeoJSON of an --area file, or a usage error naming it. */
export function readAreaFile(file: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new UsageError(`--area: cannot read ${file}: ${(err as Error).message.split('\n')[0]}`);
  }
}

/**
 * Open a raster a command was given: its errors name the file, and it must be within the limits the
 * server applies (SATSEG_MAX_PIXELS, SATSEG_MAX_BANDS, SATSEG_MAX_BLOCK_MB), which a user may raise.
 * Without them a header claiming 4e9 x 4e9 px died on an allocation message.
 */
export async function openCommandRaster(file: string): Promise<RasterSource> {
  const { openRaster } = await import('../read/open-raster.ts');
  const { checkRasterSize } = await import('../read/raster-limits.ts');
  const { checkOnEarth } = await import('../read/georef.ts');
  const named = (err: unknown) => Object.assign(err as Error, { message: `${path.basename(file)}: ${(err as Error).message}` });
  const source = await openRaster(file).catch((err: unknown) => { throw named(err); });
  try {
    checkRasterSize(source.info);
    checkOnEarth(source.info);
  } catch (err) {
    await source.close();
    throw named(err);
  }
  return source;
}

/**
 * SATSEG_MAX_FEATURES where it is set, else no limit: a command writes the polygons its user asked
 * for (memory stays bounded either way; the file is theirs), unless they set one as for the server.
 */
export function cliMaxFeatures(): number | undefined {
  const v = process.env.SATSEG_MAX_FEATURES;
  if (!v) return undefined;
  const n = Number(v);
  if (!(n > 0)) throw new UsageError(`SATSEG_MAX_FEATURES must be a positive number (got "${v}")`);
  return n;
}
