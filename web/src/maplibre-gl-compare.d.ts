/**
 * Types for @maplibre/maplibre-gl-compare 0.5 (a CommonJS module without its own): the calls
 * compare-view.ts makes.
 */
declare module '@maplibre/maplibre-gl-compare' {
  import type { Map } from 'maplibre-gl';

  interface CompareOptions {
    orientation?: 'vertical' | 'horizontal';
    /** Follow the cursor instead of dragging the handle. */
    mousemove?: boolean;
  }

  /** Map `a` shows left of the slider, map `b` right of it; their movements are kept in step. */
  class Compare {
    constructor(a: Map, b: Map, container: string | HTMLElement, options?: CompareOptions);
    /** The slider's distance from the left edge of the maps, in CSS pixels. */
    currentPosition: number;
    setSlider(x: number): void;
    on(type: 'slideend', listener: (e: { currentPosition: number }) => void): this;
    off(type: 'slideend', listener: (e: { currentPosition: number }) => void): this;
    remove(): void;
  }

  export = Compare;
}
