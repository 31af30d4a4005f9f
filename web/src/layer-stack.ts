/**
 * The ordered layers on the map, top first, as the panel lists them. It owns the MapLibre order:
 * every data layer sits below DATA_TOP, and the first entry is drawn last.
 */
import type * as maplibregl from 'maplibre-gl';
import { DATA_TOP } from './map-view.ts';
import type { MapLayer } from './map-layer.ts';

type Listener = () => void;

export class LayerStack {
  private entries: MapLayer[] = [];
  private listeners: Listener[] = [];

  constructor(private readonly map: maplibregl.Map) {}

  /** Top first. */
  get layers(): readonly MapLayer[] {
    return this.entries;
  }

  find(key: string): MapLayer | undefined {
    return this.entries.find((l) => l.key === key);
  }

  onChange(listener: Listener): void {
    this.listeners.push(listener);
  }

  private changed(): void {
    for (const l of this.listeners) l();
  }

  /** Adds a layer on top of the others of its kind: results above imagery, newest first. */
  add(layer: MapLayer): void {
    const firstOfKind = this.entries.findIndex((l) => l.kind === layer.kind);
    // The first of a kind: a result goes above everything (only datasets are there), a dataset below.
    const at = firstOfKind >= 0 ? firstOfKind : layer.kind === 'result' ? 0 : this.entries.length;
    this.entries.splice(at, 0, layer);
    layer.mount(this.map, this.beforeIdFor(layer));
    this.changed();
  }

  remove(key: string): void {
    const layer = this.find(key);
    if (!layer) return;
    layer.unmount(this.map);
    this.entries = this.entries.filter((l) => l !== layer);
    this.changed();
  }

  /** Moves a layer up (-1) or down (+1) in the list. */
  move(key: string, delta: -1 | 1): void {
    const i = this.entries.findIndex((l) => l.key === key);
    const j = i + delta;
    if (i < 0 || j < 0 || j >= this.entries.length) return;
    [this.entries[i], this.entries[j]] = [this.entries[j]!, this.entries[i]!];
    this.restack();
    this.changed();
  }

  setVisible(key: string, visible: boolean): void {
    this.update(key, (l) => { l.visible = visible; });
  }

  setOpacity(key: string, opacity: number): void {
    this.update(key, (l) => { l.opacity = opacity; });
  }

  /** Applies a change that only touches paint and visibility. */
  update(key: string, change: (layer: MapLayer) => void): void {
    const layer = this.find(key);
    if (!layer) return;
    change(layer);
    layer.applyPaint(this.map);
    this.changed();
  }

  /** Applies a change that alters sources (bands, classes, raster/vector): the layer is rebuilt in place. */
  rebuild(key: string, change: (layer: MapLayer) => void): void {
    const layer = this.find(key);
    if (!layer) return;
    layer.unmount(this.map);
    change(layer);
    layer.mount(this.map, this.beforeIdFor(layer));
    this.changed();
  }

  /** The lowest MapLibre layer of the nearest entry above `layer`, or DATA_TOP. */
  private beforeIdFor(layer: MapLayer): string {
    const i = this.entries.indexOf(layer);
    for (let k = i - 1; k >= 0; k--) {
      const id = this.entries[k]!.mapLayerIds().find((m) => this.map.getLayer(m));
      if (id) return id;
    }
    return DATA_TOP;
  }

  private restack(): void {
    for (let k = this.entries.length - 1; k >= 0; k--) {
      for (const id of this.entries[k]!.mapLayerIds()) if (this.map.getLayer(id)) this.map.moveLayer(id, DATA_TOP);
    }
  }
}
