/**
 * `window.satseg`: what the browser tests (and curious users in the console) can read to wait
 * for explicit states instead of sleeping.
 */
import type * as maplibregl from 'maplibre-gl';
import type { Job } from './api-types.ts';
import type { DrawTool } from './draw-tool.ts';
import type { LayerStack } from './layer-stack.ts';

export interface SatsegHook {
  map: maplibregl.Map;
  stack: LayerStack;
  draw: DrawTool;
  /** Every error message shown to the user. */
  errors: readonly string[];
  /** Resolves once the map (and the swipe's second map) has drawn every tile it asked for. */
  whenIdle(): Promise<void>;
  /** The job in the progress bar. */
  job(): Job | null;
  /** The before/after swipe: open or not, the slider's x in CSS pixels, the before dataset. */
  compare(): { open: boolean; position: number | null; before: string | null };
  /** Moves the swipe slider to a share of the width (0 = all after, 1 = all before). */
  setSwipe(share: number): void;
}

declare global {
  interface Window { satseg?: SatsegHook }
}

export function exposeHook(hook: SatsegHook): void {
  window.satseg = hook;
}

/** `<html data-state>`: loading, ready or error. */
export function setPageState(state: 'loading' | 'ready' | 'error'): void {
  document.documentElement.dataset.state = state;
}
