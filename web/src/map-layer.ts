/**
 * One entry of the layer panel: a dataset's imagery or a segmentation result. Each knows which
 * MapLibre sources and layers it owns; the LayerStack decides where they go.
 */
import type * as maplibregl from 'maplibre-gl';
import type { Bounds } from './api-types.ts';

export interface MapLayer {
  /** `dataset:<id>` or `result:<id>`. */
  readonly key: string;
  readonly kind: 'dataset' | 'result';
  readonly id: string;
  readonly title: string;
  readonly bounds: Bounds | null;
  visible: boolean;
  /** 0-1, applied on the map (no new tiles needed). */
  opacity: number;
  /** The MapLibre layer ids it owns, bottom to top. */
  mapLayerIds(): string[];
  /** The MapLibre source ids it owns. */
  sourceIds(): string[];
  /** Adds its sources and layers below `beforeId`. */
  mount(map: maplibregl.Map, beforeId: string): void;
  unmount(map: maplibregl.Map): void;
  /** Applies `visible` and `opacity` to the mounted layers. */
  applyPaint(map: maplibregl.Map): void;
}

/** An absolute URL for MapLibre's workers. Not via `new URL()`: it would escape `{z}/{x}/{y}`. */
export function absoluteUrl(path: string): string {
  return /^https?:\/\//.test(path) ? path : `${window.location.origin}${path.startsWith('/') ? '' : '/'}${path}`;
}

export function removeLayers(map: maplibregl.Map, layerIds: string[], sourceIds: string[]): void {
  for (const id of layerIds) if (map.getLayer(id)) map.removeLayer(id);
  for (const id of sourceIds) if (map.getSource(id)) map.removeSource(id);
}
