/**
 * The chain of image directories (IFDs) of a TIFF, walked before geotiff.js walks it: geotiff.js
 * follows each directory's next-pointer without a limit or a loop check, so a directory pointing
 * back at itself (a crafted 16 x 16 file) kept it reading and caching for ever, its memory climbing
 * by gigabytes while every listing that opened the file hung.
 */
import type { ByteSource } from './byte-source.ts';
import { RasterError } from '../errors.ts';

/**
 * Most image directories a file may chain: a COG holds two per overview level (image and mask),
 * a multi-page TIFF one per page; 1024 is far beyond any we serve.
 */
export const MAX_DIRECTORIES = 1024;

/**
 * Throws unless the directory chain ends, without a loop, within MAX_DIRECTORIES and the file.
 * `head`: the file's first 16 bytes (fewer in a shorter file), its magic already checked.
 */
export async function checkDirectoryChain(bytes: ByteSource, head: Buffer): Promise<void> {
  const little = head.toString('latin1', 0, 2) === 'II';
  const big = (little ? head.readUInt16LE(2) : head.readUInt16BE(2)) === 43;
  if (head.length < (big ? 16 : 8)) throw new RasterError('truncated', 'file truncated: it ends inside the TIFF header');
  const offsetAt = (b: Buffer, at: number) => (big
    ? Number(little ? b.readBigUInt64LE(at) : b.readBigUInt64BE(at))
    : (little ? b.readUInt32LE(at) : b.readUInt32BE(at)));
  const countBytes = big ? 8 : 2;
  const entryBytes = big ? 20 : 12;
  const pointerBytes = big ? 8 : 4;
  const seen = new Set<number>();
  for (let offset = offsetAt(head, big ? 8 : 4); offset !== 0;) {
    if (seen.has(offset)) throw new RasterError('corrupt', `the TIFF's image directories loop back on themselves (directory ${seen.size + 1} points to an earlier one at byte ${offset})`);
    if (seen.size >= MAX_DIRECTORIES) throw new RasterError('corrupt', `the TIFF chains more than ${MAX_DIRECTORIES} image directories`);
    seen.add(offset);
    const which = seen.size === 1 ? 'its first image directory' : `image directory ${seen.size}`;
    if (offset + countBytes > bytes.size) throw new RasterError('truncated', `file truncated: ${which} lies beyond the end of the file (file truncated or corrupt?)`);
    const countField = Buffer.from(await bytes.read(offset, countBytes));
    const entries = big ? Number(little ? countField.readBigUInt64LE(0) : countField.readBigUInt64BE(0)) : (little ? countField.readUInt16LE(0) : countField.readUInt16BE(0));
    const next = offset + countBytes + entries * entryBytes;
    if (next + pointerBytes > bytes.size) throw new RasterError('truncated', `file truncated: ${which} runs past the end of the file (file truncated or corrupt?)`);
    offset = offsetAt(Buffer.from(await bytes.read(next, pointerBytes)), 0);
  }
}
