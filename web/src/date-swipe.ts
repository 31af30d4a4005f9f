/**
 * The before/after swipe, wired to the layer panel. The main map is the right side, so while the
 * swipe is open the earlier imagery is switched off there (the left map shows it) and the later
 * imagery on; closing gives the earlier imagery back. A change result finds its two dates through
 * the class masks it compared.
 */
import type * as maplibregl from 'maplibre-gl';
import type { Dataset, Result } from './api-types.ts';
import type { ChangeLayer } from './change-layer.ts';
import { CompareView } from './compare-view.ts';
import type { DatasetLayer } from './dataset-layer.ts';
import type { DrawTool } from './draw-tool.ts';
import type { LayerStack } from './layer-stack.ts';
import type { Toaster } from './toasts.ts';

export interface DateSwipeOptions {
  map: maplibregl.Map;
  stack: LayerStack;
  draw: DrawTool;
  toaster: Toaster;
  /** The element around both maps, and the one the left map fills. */
  area: HTMLElement;
  container: HTMLElement;
  /** Called with each left map made, e.g. to report its tile errors. */
  onMap(map: maplibregl.Map): void;
  /** The datasets that can be drawn on the map. */
  mappable(): Dataset[];
  /** A result shown in the panel, by id. */
  result(id: string): Result | undefined;
}

export class DateSwipe {
  readonly view: CompareView;
  /** The earlier imagery's layer key, while the swipe keeps it off the main map. */
  private hidden: string | null = null;

  constructor(private readonly o: DateSwipeOptions) {
    this.view = new CompareView({
      main: o.map, area: o.area, container: o.container, onMap: o.onMap,
      onClose: () => {
        if (this.hidden) o.stack.setVisible(this.hidden, true);
        this.hidden = null;
      },
    });
    // Drawing happens on the main map: the left map would take the clicks on its side.
    o.draw.onChange(() => { if (o.draw.drawing && this.view.isOpen) this.view.close(); });
  }

  async show(beforeId: string, afterId: string): Promise<void> {
    const before = this.o.mappable().find((d) => d.id === beforeId);
    const after = this.o.mappable().find((d) => d.id === afterId);
    if (!before || !after) {
      this.o.toaster.error('The two dates cannot be shown side by side: one of them is not on the map.');
      return;
    }
    const { stack } = this.o;
    this.view.close();
    const beforeLayer = stack.find(`dataset:${beforeId}`) as DatasetLayer | undefined;
    if (beforeLayer?.visible) {
      stack.setVisible(beforeLayer.key, false);
      this.hidden = beforeLayer.key;
    }
    const afterLayer = stack.find(`dataset:${afterId}`);
    if (afterLayer && !afterLayer.visible) stack.setVisible(afterLayer.key, true);
    await this.view.open({ before, beforePreset: beforeLayer?.preset?.id ?? null, afterTitle: after.name });
  }

  /** Why the dates of a change result cannot be shown, or null when they can. */
  problem(layer: ChangeLayer): string | null {
    const dates = this.datesOf(layer);
    return typeof dates === 'string' ? dates : null;
  }

  showChange(layer: ChangeLayer): void {
    const dates = this.datesOf(layer);
    if (typeof dates === 'string') this.o.toaster.error(`The two dates cannot be shown side by side: ${dates}.`);
    else void this.show(dates.before, dates.after);
  }

  private datesOf(layer: ChangeLayer): { before: string; after: string } | string {
    const beforeResult = layer.beforeResultId ? this.o.result(layer.beforeResultId) : undefined;
    const shown = (id: string) => this.o.mappable().some((d) => d.id === id);
    if (!beforeResult) return 'the class mask of the earlier date is not on this server any more';
    if (!shown(beforeResult.dataset)) return 'the earlier imagery is not on this server (or cannot be shown)';
    if (!shown(layer.result.dataset)) return 'the later imagery is not on this server (or cannot be shown)';
    return { before: beforeResult.dataset, after: layer.result.dataset };
  }
}
