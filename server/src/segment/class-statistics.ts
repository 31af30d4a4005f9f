/**
 * Per-class pixel counts, areas and shares of a class mask. Pixel areas come from the geodesy
 * module: the pixel size in the mask's CRS for projected systems whose scale is near 1, the
 * ground area of each row's pixels for lon/lat grids (where a pixel shrinks towards the poles) and
 * projections whose scale is not, the same areas the polygons' area_m2 uses.
 */
import type { RasterSource } from '../read/raster-source.ts';
import { gridAreaMethod, rowPixelAreaFunction } from '../read/geodesy.ts';

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
  const pixelArea = await rowPixelAreaFunction(gt, { width, height }, crs);
  const strip = 256;
  for (let y = 0; y < height; y += strip) {
    const rows = Math.min(strip, height - y);
    const block = await mask.read({ x: 0, y, width, height: rows });
    const ids = block.bands[0]!;
    for (let r = 0; r < rows; r++) {
      const rowArea = pixelArea(y + r);
      const rowCounts = new Float64Array(256);
      for (let x = 0; x < width; x++) {
        const i = r * width + x;
        rowCounts[block.valid[i] ? ids[i]! : 255]!++;
      }
      for (let c = 0; c < 256; c++) {
        if (!rowCounts[c]) continue;
        counts[c]! += rowCounts[c]!;
        areas[c]! += rowCounts[c]! * rowArea;
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
    area_method: await gridAreaMethod(gt, { width, height }, crs),
  };
}
