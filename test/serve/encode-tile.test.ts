/**
 * Tile encoding: opaque tiles drop the alpha channel (smaller, faster), tiles with any
 * transparent pixel keep it, and the colours survive either way.
 */
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { encodeTile } from '../../server/src/serve/tiles/encode-tile.ts';

function tile(transparentAt: number | null) {
  const size = 16;
  const rgba = new Uint8Array(size * size * 4);
  for (let i = 0; i < size * size; i++) rgba.set([i % 256, (3 * i) % 256, 200, 255], 4 * i);
  if (transparentAt !== null) rgba[4 * transparentAt + 3] = 0;
  return { size, rgba };
}

describe('encodeTile', () => {
  for (const format of ['png', 'webp'] as const) {
    it(`${format}: an opaque tile is written without alpha, a tile with a hole keeps it`, async () => {
      const opaque = await sharp(await encodeTile(tile(null), format)).raw().toBuffer({ resolveWithObject: true });
      expect(opaque.info.channels).toBe(3);
      expect([...opaque.data.subarray(3 * 20, 3 * 20 + 3)]).toEqual([20, 60, 200]);
      const holed = await sharp(await encodeTile(tile(5), format)).raw().toBuffer({ resolveWithObject: true });
      expect(holed.info.channels).toBe(4);
      expect(holed.data[4 * 5 + 3]).toBe(0);
      expect([...holed.data.subarray(4 * 20, 4 * 20 + 4)]).toEqual([20, 60, 200, 255]);
    });
  }
});
