/**
 * Per-class pixel counts, areas and shares of a class mask. Pixel areas come from the geodesy
 * module: the pixel size in the mask's CRS for projected systems whose scale is near 1, the
 * ground area of each row's pixels for lon/lat grids (where a pixel shrinks towards the poles) and
 * projections whose scale is not, the same areas the polygons' area_m2 uses.
 */
import type { RasterSource } from '../read/raster-source.ts';
import { cellAreaFunction } from '../read/geodesy.ts';

export interface ClassStatistics {
  id: number;
  name: string;
  color: string | null;
  pixels: number;
  area_m2: number;
  /** Share of the classified (non-nodata) area, 0..1. */
  share: number;
}

export interface MaskStatistics {
  classes: ClassStatistics[];
  classified_pixels: number;
  classified_area_m2: number;
  nodata_pixels: number;
  /** How areas were measured. */
  area_method: 'projected' | 'geodesic';
}

export async function maskStatistics(mask: RasterSource, classNames: string[], colors: string[] = []): Promise<MaskStatistics> {
  const { width, height, geoTransform: gt, crs } = mask.info;
  const counts = new Float64Array(256);
  const areas = new Float64Array(256);
  const { area: cellArea, variesAlongRows, method } = await cellAreaFunction(gt, { width, height }, crs);
  // Where a pixel's area changes along a row (a projection whose scale departs from 1), each row is
  // weighed in blocks of columns; else one area per row.
  const span = variesAlongRows ? 256 : width;
  const strip = 256;
  const rowCounts = new Float64Array(256);
  for (let y = 0; y < height; y += strip) {
    const rows = Math.min(strip, height - y);
    const block = await mask.read({ x: 0, y, width, height: rows });
    const ids = block.bands[0]!;
    for (let r = 0; r < rows; r++) {
      for (let x0 = 0; x0 < width; x0 += span) {
        const x1 = Math.min(width, x0 + span);
        const cellM2 = cellArea(y + r, (x0 + x1) / 2);
        rowCounts.fill(0);
        for (let x = x0; x < x1; x++) {
          const i = r * width + x;
          rowCounts[block.valid[i] ? ids[i]! : 255]!++;
        }
        for (let c = 0; c < 256; c++) {
          if (!rowCounts[c]) continue;
          counts[c]! += rowCounts[c]!;
          areas[c]! += rowCounts[c]! * cellM2;
        }
      }
    }
  }
  let classifiedArea = 0;
  let classifiedPixels = 0;
  for (let c = 0; c < classNames.length; c++) { classifiedArea += areas[c]!; classifiedPixels += counts[c]!; }
  return {
    classes: classNames.map((name, id) => ({ id, name, color: colors[id] ?? null, pixels: counts[id]!, area_m2: areas[id]!, share: classifiedArea > 0 ? areas[id]! / classifiedArea : 0 })),
    classified_pixels: classifiedPixels,
    classified_area_m2: classifiedArea,
    nodata_pixels: width * height - classifiedPixels,
    area_method: method,
  };
}
