/**
 * A segmentation result: the class mask as palette raster tiles, or, once the result has been
 * vectorized, its polygons from vector tiles (one source-layer per class). Hidden classes are
 * left out server-side for the raster (`classes=`) and hidden per layer for the vectors.
 */
import type * as maplibregl from 'maplibre-gl';
import type { Bounds, ModelClass, Result, TileJson } from './api-types.ts';
import { absoluteUrl, removeLayers, type MapLayer } from './map-layer.ts';

export type ResultMode = 'raster' | 'vector';

/** A slightly darker shade of a class colour, for polygon outlines. */
function outlineOf(hex: string): string {
  const n = Number.parseInt(hex.replace('#', ''), 16);
  const dark = (v: number) => Math.round(v * 0.6).toString(16).padStart(2, '0');
  return `#${dark((n >> 16) & 255)}${dark((n >> 8) & 255)}${dark(n & 255)}`;
}

export class ResultLayer implements MapLayer {
  readonly kind = 'result';
  visible = true;
  opacity = 0.85;
  mode: ResultMode = 'raster';
  readonly hidden = new Set<number>();
  /** Vector tile layer per class id, from the vector TileJSON's `vector_layers` (else the class name). */
  private sourceLayers = new Map<number, string>();
  private vectorZooms: { minzoom: number; maxzoom: number } | null = null;

  constructor(readonly result: Result) {}

  get id(): string { return this.result.id; }
  get key(): string { return `result:${this.result.id}`; }
  get title(): string { return this.result.name; }
  get bounds(): Bounds | null { return this.result.bounds; }
  get classes(): ModelClass[] { return this.result.classes; }
  get hasVectors(): boolean { return Boolean(this.result.links.vector_tiles); }
  private get rasterId(): string { return `result-${this.result.id}`; }
  private get vectorId(): string { return `result-${this.result.id}-polygons`; }
  vectorLayerId(classId: number): string { return `${this.vectorId}-${classId}`; }

  mapLayerIds(): string[] {
    return this.mode === 'raster' ? [this.rasterId] : this.classes.map((c) => this.vectorLayerId(c.id));
  }

  /** The layers that answer "which polygon is here" (empty in raster mode). */
  polygonLayerIds(): string[] {
    return this.mode === 'vector' ? this.classes.filter((c) => !this.hidden.has(c.id)).map((c) => this.vectorLayerId(c.id)) : [];
  }

  private get allHidden(): boolean {
    return this.hidden.size >= this.classes.length;
  }

  tileJsonUrl(): string {
    const shown = this.classes.filter((c) => !this.hidden.has(c.id)).map((c) => c.name);
    const query = this.hidden.size && shown.length ? `?classes=${shown.map(encodeURIComponent).join(',')}` : '';
    return absoluteUrl(`${this.result.links.tilejson}${query}`);
  }

  /** Reads the vector layer names once from the polygons' own TileJSON; call before switching to vectors. */
  async prepareVectors(fetchTileJson: (url: string) => Promise<TileJson>): Promise<void> {
    if (this.sourceLayers.size) return;
    const tj = await fetchTileJson(`/results/${encodeURIComponent(this.result.id)}/vector/tilejson.json`);
    const layers = tj.vector_layers ?? [];
    const ids = new Set(layers.map((l) => l.id));
    // Layers are named by class; if a server names them otherwise, pair them up in class order.
    const byOrder = layers.length === this.classes.length && !this.classes.some((c) => ids.has(c.name));
    this.classes.forEach((c, i) => this.sourceLayers.set(c.id, byOrder ? layers[i]!.id : c.name));
    if (layers.length) {
      this.vectorZooms = {
        minzoom: Math.min(...layers.map((l) => l.minzoom ?? 0)),
        maxzoom: Math.max(...layers.map((l) => l.maxzoom ?? this.result.maxzoom)),
      };
    }
  }

  mount(map: maplibregl.Map, beforeId: string): void {
    if (this.mode === 'raster') this.mountRaster(map, beforeId);
    else this.mountVector(map, beforeId);
  }

  private mountRaster(map: maplibregl.Map, beforeId: string): void {
    map.addSource(this.rasterId, { type: 'raster', url: this.tileJsonUrl(), tileSize: 256 });
    map.addLayer({
      id: this.rasterId,
      type: 'raster',
      source: this.rasterId,
      layout: { visibility: this.visible && !this.allHidden ? 'visible' : 'none' },
      // Classes are categories: blending neighbours would invent colours no class has.
      paint: { 'raster-opacity': this.opacity, 'raster-resampling': 'nearest', 'raster-fade-duration': 0 },
    }, beforeId);
  }

  private mountVector(map: maplibregl.Map, beforeId: string): void {
    const zooms = this.vectorZooms ?? { minzoom: 0, maxzoom: this.result.maxzoom };
    map.addSource(this.vectorId, {
      type: 'vector',
      tiles: [absoluteUrl(this.result.links.vector_tiles!)],
      minzoom: zooms.minzoom,
      maxzoom: zooms.maxzoom,
      ...(this.result.bounds ? { bounds: this.result.bounds } : {}),
    });
    for (const c of this.classes) {
      map.addLayer({
        id: this.vectorLayerId(c.id),
        type: 'fill',
        source: this.vectorId,
        'source-layer': this.sourceLayers.get(c.id) ?? c.name,
        layout: { visibility: this.visible && !this.hidden.has(c.id) ? 'visible' : 'none' },
        paint: { 'fill-color': c.color, 'fill-opacity': this.opacity, 'fill-outline-color': outlineOf(c.color) },
      }, beforeId);
    }
  }

  sourceIds(): string[] {
    return [this.rasterId, this.vectorId];
  }

  unmount(map: maplibregl.Map): void {
    removeLayers(map, [this.rasterId, ...this.classes.map((c) => this.vectorLayerId(c.id))], this.sourceIds());
  }

  applyPaint(map: maplibregl.Map): void {
    if (this.mode === 'raster') {
      if (!map.getLayer(this.rasterId)) return;
      map.setLayoutProperty(this.rasterId, 'visibility', this.visible && !this.allHidden ? 'visible' : 'none');
      map.setPaintProperty(this.rasterId, 'raster-opacity', this.opacity);
      return;
    }
    for (const c of this.classes) {
      const id = this.vectorLayerId(c.id);
      if (!map.getLayer(id)) continue;
      map.setLayoutProperty(id, 'visibility', this.visible && !this.hidden.has(c.id) ? 'visible' : 'none');
      map.setPaintProperty(id, 'fill-opacity', this.opacity);
    }
  }

  /**
   * Hides or shows a class. Returns true when the tiles must be fetched again (raster mode:
   * the server draws only the listed classes); vector layers just switch visibility.
   */
  toggleClass(classId: number): boolean {
    if (this.hidden.has(classId)) this.hidden.delete(classId);
    else this.hidden.add(classId);
    return this.mode === 'raster';
  }
}
