/**
 * proj4, loaded where it is first needed. It takes about 30 ms to load, and most runs of most
 * commands (segmenting a scene without an area, say) never transform a coordinate. Required rather
 * than imported, so that a synchronous caller can load it too, and every caller shares one copy.
 */
import { createRequire } from 'node:module';
import type proj4 from 'proj4';

const require = createRequire(import.meta.url);
let library: typeof proj4 | null = null;

export function proj4Library(): typeof proj4 {
  return (library ??= require('proj4') as typeof proj4);
}
