/**
 * Per-class pixel counts, areas and shares of a class mask. Areas use the pixel size in the
 * mask's CRS for projected systems, and the geodesic area of each row's pixels for lon/lat grids,
 * where a pixel shrinks towards the poles.
 */
import type { RasterSource } from '../read/raster-source.ts';
import { metresPerUnit } from '../read/georef.ts';

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

const EARTH_RADIUS = 6_371_008.8;

export async function maskStatistics(mask: RasterSource, classNames: string[], colors: string[] = []): Promise<MaskStatistics> {
  const { width, height, geoTransform: gt, crs } = mask.info;
  const counts = new Float64Array(256);
  const areas = new Float64Array(256);
  const projectedArea = Math.abs(gt[1] * gt[5]) * metresPerUnit(crs) ** 2;
  const dLon = (Math.abs(gt[1]) * Math.PI) / 180;
  const strip = 256;
  for (let y = 0; y < height; y += strip) {
    const rows = Math.min(strip, height - y);
    const block = await mask.read({ x: 0, y, width, height: rows });
    const ids = block.bands[0]!;
    for (let r = 0; r < rows; r++) {
      let pixelArea = projectedArea;
      if (crs.geographic) {
        const lat1 = ((gt[3] + (y + r) * gt[5]) * Math.PI) / 180;
        const lat2 = ((gt[3] + (y + r + 1) * gt[5]) * Math.PI) / 180;
        pixelArea = EARTH_RADIUS ** 2 * dLon * Math.abs(Math.sin(lat1) - Math.sin(lat2));
      }
      const rowCounts = new Float64Array(256);
      for (let x = 0; x < width; x++) {
        const i = r * width + x;
        rowCounts[block.valid[i] ? ids[i]! : 255]++;
      }
      for (let c = 0; c < 256; c++) {
        if (!rowCounts[c]) continue;
        counts[c] += rowCounts[c]!;
        areas[c] += rowCounts[c]! * pixelArea;
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
    area_method: crs.geographic ? 'geodesic' : 'projected',
  };
}
