/**
 * Drawing the area to segment: a rectangle or a polygon, with terra-draw. One area at a time;
 * a new drawing replaces the old one.
 */
import type * as maplibregl from 'maplibre-gl';
import type { Polygon } from 'geojson';
import { TerraDraw, TerraDrawPolygonMode, TerraDrawRectangleMode } from 'terra-draw';
import { TerraDrawMapLibreGLAdapter } from 'terra-draw-maplibre-gl-adapter';

export type DrawShape = 'rectangle' | 'polygon';

// Dark outline and a faint white fill: no colour a class could have, so results stay readable.
const STYLE = {
  fillColor: '#ffffff',
  fillOpacity: 0.12,
  outlineColor: '#111827',
  outlineWidth: 2,
} as const;

/** Clicks this soon after a drawing ends belong to the drawing, not to "inspect". */
const CLICK_GRACE_MS = 350;

export class DrawTool {
  private readonly draw: TerraDraw;
  private polygon: Polygon | null = null;
  private finishedAt = 0;
  private listeners: Array<(area: Polygon | null) => void> = [];

  constructor(map: maplibregl.Map) {
    this.draw = new TerraDraw({
      adapter: new TerraDrawMapLibreGLAdapter({ map }),
      modes: [
        new TerraDrawRectangleMode({ styles: { ...STYLE } }),
        new TerraDrawPolygonMode({ styles: { ...STYLE, closingPointColor: '#111827', closingPointOutlineColor: '#ffffff', closingPointWidth: 5, closingPointOutlineWidth: 2 } }),
      ],
    });
    this.draw.start();
    this.draw.on('finish', (id, context) => {
      if (context.action !== 'draw') return;
      const feature = this.draw.getSnapshotFeature(id);
      if (!feature || feature.geometry.type !== 'Polygon') return;
      const others = this.draw.getSnapshot().map((f) => f.id).filter((f): f is string | number => f !== undefined && f !== id);
      if (others.length) this.draw.removeFeatures(others);
      this.polygon = feature.geometry as Polygon;
      this.finishedAt = performance.now();
      this.draw.setMode('static');
      this.emit();
    });
    window.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && this.drawing) { this.draw.setMode('static'); this.emit(); }
    });
  }

  get area(): Polygon | null {
    return this.polygon;
  }

  get drawing(): boolean {
    return this.draw.getMode() !== 'static';
  }

  get shape(): DrawShape | null {
    const mode = this.draw.getMode();
    return mode === 'rectangle' || mode === 'polygon' ? mode : null;
  }

  /** True when a map click is part of drawing and must not open the inspect popup. */
  ownsClick(): boolean {
    return this.drawing || performance.now() - this.finishedAt < CLICK_GRACE_MS;
  }

  start(shape: DrawShape): void {
    this.draw.setMode(shape);
    this.emit();
  }

  stop(): void {
    if (this.drawing) this.draw.setMode('static');
    this.emit();
  }

  clear(): void {
    this.draw.clear();
    this.draw.setMode('static');
    this.polygon = null;
    this.emit();
  }

  onChange(listener: (area: Polygon | null) => void): void {
    this.listeners.push(listener);
  }

  private emit(): void {
    for (const l of this.listeners) l(this.polygon);
  }
}
