/**
 * A latitude/longitude grid for low zooms. There is no basemap (the machine may be offline), and
 * on a plain background the grid is what tells the user where on Earth they are.
 */
import type { FeatureCollection, LineString } from 'geojson';

export function graticule(stepDegrees = 10): FeatureCollection<LineString> {
  const features: FeatureCollection<LineString>['features'] = [];
  for (let lon = -180; lon <= 180; lon += stepDegrees) {
    const coords: number[][] = [];
    for (let lat = -85; lat <= 85; lat += 5) coords.push([lon, lat]);
    features.push({ type: 'Feature', properties: { kind: lon === 0 ? 'prime' : 'meridian' }, geometry: { type: 'LineString', coordinates: coords } });
  }
  for (let lat = -80; lat <= 80; lat += stepDegrees) {
    const coords: number[][] = [];
    for (let lon = -180; lon <= 180; lon += 5) coords.push([lon, lat]);
    features.push({ type: 'Feature', properties: { kind: lat === 0 ? 'equator' : 'parallel' }, geometry: { type: 'LineString', coordinates: coords } });
  }
  return { type: 'FeatureCollection', features };
}
