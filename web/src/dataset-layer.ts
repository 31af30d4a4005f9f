/**
 * A dataset as imagery: a raster source on the dataset's TileJSON, styled by a band preset.
 */
import type * as maplibregl from 'maplibre-gl';
import type { Bounds, Dataset } from './api-types.ts';
import { bandPresets, type BandPreset } from './band-presets.ts';
import { absoluteUrl, removeLayers, type MapLayer } from './map-layer.ts';

export class DatasetLayer implements MapLayer {
  readonly kind = 'dataset';
  readonly presets: BandPreset[];
  preset: BandPreset | null;
  visible = true;
  opacity = 1;

  constructor(readonly dataset: Dataset) {
    this.presets = bandPresets(dataset);
    this.preset = this.presets[0] ?? null;
  }

  get id(): string { return this.dataset.id; }
  get key(): string { return `dataset:${this.dataset.id}`; }
  get title(): string { return this.dataset.name; }
  get bounds(): Bounds | null { return this.dataset.bounds ?? null; }
  private get mapId(): string { return `dataset-${this.dataset.id}`; }

  mapLayerIds(): string[] {
    return [this.mapId];
  }

  tileJsonUrl(): string {
    const query = this.preset ? `?bands=${this.preset.bands.join(',')}` : '';
    return absoluteUrl(`/datasets/${encodeURIComponent(this.dataset.id)}/tilejson.json${query}`);
  }

  mount(map: maplibregl.Map, beforeId: string): void {
    map.addSource(this.mapId, { type: 'raster', url: this.tileJsonUrl(), tileSize: 256 });
    map.addLayer({
      id: this.mapId,
      type: 'raster',
      source: this.mapId,
      layout: { visibility: this.visible ? 'visible' : 'none' },
      paint: { 'raster-opacity': this.opacity, 'raster-fade-duration': 0 },
    }, beforeId);
  }

  sourceIds(): string[] {
    return [this.mapId];
  }

  unmount(map: maplibregl.Map): void {
    removeLayers(map, [this.mapId], this.sourceIds());
  }

  applyPaint(map: maplibregl.Map): void {
    if (!map.getLayer(this.mapId)) return;
    map.setLayoutProperty(this.mapId, 'visibility', this.visible ? 'visible' : 'none');
    map.setPaintProperty(this.mapId, 'raster-opacity', this.opacity);
  }

  /** Changes the bands shown; the caller re-mounts the layer (the tile URLs change). */
  choosePreset(id: string): void {
    this.preset = this.presets.find((p) => p.id === id) ?? this.preset;
  }
}
