/**
 * The MapLibre map: a plain background, a graticule, dataset footprints and the navigation
 * controls. Data layers are inserted below DATA_TOP, so drawings and outlines stay above them.
 */
import * as maplibregl from 'maplibre-gl';
import type { FeatureCollection, Polygon } from 'geojson';
import type { Bounds } from './api-types.ts';
import { graticule } from './graticule.ts';

/** An invisible layer that marks the top of the data layers. */
export const DATA_TOP = 'data-top';
const FOOTPRINTS = 'footprints';
export const BACKGROUND_COLOR = '#eef1f5';

/**
 * `navigation: false` makes the second map of a swipe comparison: the same base and scale bar
 * (its left half hides the main map's), without zoom buttons of its own (the main map's serve both).
 */
export function createMap(container: HTMLElement, { navigation = true, center = [0, 20] as [number, number], zoom = 1.5 } = {}): maplibregl.Map {
  const map = new maplibregl.Map({
    container,
    style: {
      version: 8,
      sources: {
        graticule: { type: 'geojson', data: graticule() },
        [FOOTPRINTS]: { type: 'geojson', data: { type: 'FeatureCollection', features: [] } },
      },
      layers: [
        { id: 'background', type: 'background', paint: { 'background-color': BACKGROUND_COLOR } },
        {
          id: 'graticule', type: 'line', source: 'graticule', maxzoom: 9,
          paint: { 'line-color': '#c4ccd8', 'line-width': ['match', ['get', 'kind'], ['equator', 'prime'], 1.4, 0.7] },
        },
        { id: DATA_TOP, type: 'background', layout: { visibility: 'none' } },
        // Footprints show where data is at zooms where its tiles are not drawn yet.
        { id: FOOTPRINTS, type: 'line', source: FOOTPRINTS, paint: { 'line-color': '#5b6577', 'line-width': 1.2, 'line-dasharray': [3, 2] } },
      ],
    },
    center,
    zoom,
    attributionControl: false,
    dragRotate: false,
    pitchWithRotate: false,
    touchPitch: false,
    maxPitch: 0,
  });
  map.touchZoomRotate.disableRotation();
  if (navigation) map.addControl(new maplibregl.NavigationControl({ showCompass: false }), 'top-right');
  map.addControl(new maplibregl.ScaleControl({ unit: 'metric', maxWidth: 120 }), 'bottom-left');
  return map;
}

function boundsPolygon([w, s, e, n]: Bounds): Polygon {
  return { type: 'Polygon', coordinates: [[[w, s], [e, s], [e, n], [w, n], [w, s]]] };
}

/** Draws the outline of each dataset. */
export function setFootprints(map: maplibregl.Map, footprints: Array<{ name: string; bounds: Bounds }>): void {
  const data: FeatureCollection<Polygon> = {
    type: 'FeatureCollection',
    features: footprints.map((f) => ({ type: 'Feature', properties: { name: f.name }, geometry: boundsPolygon(f.bounds) })),
  };
  (map.getSource(FOOTPRINTS) as maplibregl.GeoJSONSource | undefined)?.setData(data);
}

export function boundsContain([w, s, e, n]: Bounds, lon: number, lat: number): boolean {
  return lon >= w && lon <= e && lat >= s && lat <= n;
}

/** Fits the map to bounds, with room for the panel and controls. */
export function fitTo(map: maplibregl.Map, bounds: Bounds, animate = false): void {
  const padding = Math.round(Math.min(60, map.getContainer().clientWidth / 10, map.getContainer().clientHeight / 10));
  map.fitBounds([[bounds[0], bounds[1]], [bounds[2], bounds[3]]], { padding, duration: animate ? 600 : 0, maxZoom: 20 });
}

/** A promise for the next moment the map has drawn everything it asked for. */
export function whenIdle(map: maplibregl.Map): Promise<void> {
  return new Promise((resolve) => {
    map.once('idle', () => resolve());
    map.triggerRepaint();
  });
}
