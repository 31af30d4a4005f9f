/**
 * The layer panel: one entry per layer with visibility, opacity, order and zoom-to; band presets
 * and "compare with…" for imagery; the raster/polygon toggle, legend, statistics and downloads for
 * results; for a change result its headline, transitions, gained/lost table and the swipe.
 * Entries are built once and refreshed in place, so a slider keeps its focus while dragged.
 */
import type { ApiClient } from './api-client.ts';
import { describeError } from './api-client.ts';
import type { ChangeStatistics, ResultStatistics, TileJson } from './api-types.ts';
import { ChangeLayer } from './change-layer.ts';
import { createChangePanel } from './change-panel.ts';
import { DatasetLayer } from './dataset-layer.ts';
import { el } from './element.ts';
import type { LayerStack } from './layer-stack.ts';
import { createLegend } from './legend.ts';
import type { MapLayer } from './map-layer.ts';
import { ResultLayer, type ResultMode } from './result-layer.ts';
import { createStatsPanel } from './stats-chart.ts';
import type { Toaster } from './toasts.ts';

export interface LayerPanelOptions {
  stack: LayerStack;
  api: ApiClient;
  toaster: Toaster;
  zoomTo(layer: MapLayer): void;
  select(layer: MapLayer): void;
  isSelected(layer: MapLayer): boolean;
  /** "Compare with…" on a dataset: start a comparison with it as the later date. */
  compareFrom(layer: DatasetLayer): void;
  /** Show the two dates of a change result side by side; a reason when that cannot be done. */
  swipe(layer: ChangeLayer): void;
  swipeProblem(layer: ChangeLayer): string | null;
}

interface Entry {
  element: HTMLLIElement;
  refresh(): void;
}

export class LayerPanel {
  private entries = new Map<string, Entry>();

  constructor(private readonly list: HTMLElement, private readonly o: LayerPanelOptions) {
    o.stack.onChange(() => this.refresh());
  }

  refresh(): void {
    const layers = this.o.stack.layers;
    for (const [key, entry] of this.entries) {
      if (!layers.some((l) => l.key === key)) { entry.element.remove(); this.entries.delete(key); }
    }
    layers.forEach((layer, i) => {
      let entry = this.entries.get(layer.key);
      if (!entry) { entry = this.build(layer); this.entries.set(layer.key, entry); }
      if (this.list.children[i] !== entry.element) this.list.insertBefore(entry.element, this.list.children[i] ?? null);
      entry.refresh();
    });
    this.list.dataset.count = String(layers.length);
  }

  private build(layer: MapLayer): Entry {
    const { stack } = this.o;
    const visible = el('input', { type: 'checkbox', class: 'layer-visible', attrs: { 'aria-label': `Show ${layer.title}` }, on: { change: () => stack.setVisible(layer.key, visible.checked) } });
    const title = el('button', { type: 'button', class: 'layer-title', title: `Select ${layer.title}`, on: { click: () => this.o.select(layer) } }, layer.title);
    const up = el('button', { type: 'button', class: 'icon', title: 'Move up', attrs: { 'aria-label': `Move ${layer.title} up` }, on: { click: () => stack.move(layer.key, -1) } }, '▲');
    const down = el('button', { type: 'button', class: 'icon', title: 'Move down', attrs: { 'aria-label': `Move ${layer.title} down` }, on: { click: () => stack.move(layer.key, 1) } }, '▼');
    const zoom = el('button', { type: 'button', class: 'icon layer-zoom', title: 'Zoom to layer', attrs: { 'aria-label': `Zoom to ${layer.title}` }, disabled: !layer.bounds, on: { click: () => this.o.zoomTo(layer) } }, '⤢');
    const opacity = el('input', {
      type: 'range', min: '0', max: '100', step: '5', class: 'layer-opacity',
      attrs: { 'aria-label': `Opacity of ${layer.title}` },
      on: { input: () => stack.setOpacity(layer.key, Number(opacity.value) / 100) },
    });
    const badge = layer instanceof ChangeLayer ? el('span', { class: 'kind kind-change' }, 'Change')
      : el('span', { class: `kind kind-${layer.kind}` }, layer.kind === 'dataset' ? 'Imagery' : 'Result');
    const head = el('div', { class: 'layer-head' }, visible, badge, title, zoom, up, down);
    const controls = el('div', { class: 'layer-controls' }, el('label', { class: 'opacity' }, 'Opacity', opacity));
    const element = el('li', { class: 'layer', dataset: { key: layer.key, kind: layer.kind, id: layer.id } }, head, controls);
    const refreshers: Array<() => void> = [];

    if (layer instanceof DatasetLayer) {
      const info = layer.dataset;
      element.append(el('p', { class: 'layer-info muted' }, `${info.width} × ${info.height} px · ${info.band_count} band${info.band_count === 1 ? '' : 's'} · ${info.dtype}${info.resolution_m ? ` · ${info.resolution_m.toPrecision(3)} m` : ''}`));
      if (layer.presets.length) {
        const preset = el('select', {
          class: 'layer-preset', attrs: { 'aria-label': `Bands of ${layer.title}` },
          on: { change: () => stack.rebuild(layer.key, () => layer.choosePreset(preset.value)) },
        }, ...layer.presets.map((p) => el('option', { value: p.id }, p.label)));
        controls.append(preset);
        refreshers.push(() => { preset.value = layer.preset?.id ?? ''; });
      }
      controls.append(el('button', {
        type: 'button', class: 'layer-compare', title: `Compare ${layer.title} with an earlier date`,
        on: { click: () => this.o.compareFrom(layer) },
      }, 'Compare with…'));
    }

    if (layer instanceof ResultLayer) this.buildResult(layer, element, controls, refreshers);

    return {
      element,
      refresh: () => {
        visible.checked = layer.visible;
        if (document.activeElement !== opacity) opacity.value = String(Math.round(layer.opacity * 100));
        element.dataset.visible = String(layer.visible);
        element.classList.toggle('selected', this.o.isSelected(layer));
        const i = stack.layers.indexOf(layer);
        up.disabled = i <= 0;
        down.disabled = i >= stack.layers.length - 1;
        for (const r of refreshers) r();
      },
    };
  }

  private buildResult(layer: ResultLayer, element: HTMLElement, controls: HTMLElement, refreshers: Array<() => void>): void {
    const { stack, api } = this.o;
    if (layer.hasVectors) {
      const radios = (['raster', 'vector'] as ResultMode[]).map((mode) => el('input', {
        type: 'radio', name: `mode-${layer.id}`, value: mode, class: `mode-${mode}`,
        on: { change: () => void this.switchMode(layer, mode) },
      }));
      controls.append(el('fieldset', { class: 'mode-toggle' }, el('legend', { class: 'visually-hidden' }, 'Show as'),
        el('label', {}, radios[0]!, 'Raster'), el('label', {}, radios[1]!, 'Polygons')));
      refreshers.push(() => { for (const r of radios) r.checked = r.value === layer.mode; });
    }
    const toggle = (classId: number) => {
      const refetch = layer.toggleClass(classId);
      if (refetch) stack.rebuild(layer.key, () => {});
      else stack.update(layer.key, () => {});
    };
    if (layer instanceof ChangeLayer) {
      this.buildChange(layer, element, controls, refreshers, toggle);
      return;
    }
    const legend = createLegend(layer, toggle);
    refreshers.push(legend.refresh);
    const stats = el('details', { class: 'stats-details' }, el('summary', {}, 'Statistics'));
    let statsLoaded = false;
    const loadStats = () => {
      if (statsLoaded) return;
      statsLoaded = true;
      stats.append(createStatsPanel(() => api.get<ResultStatistics>(layer.result.links.stats)));
    };
    stats.addEventListener('toggle', () => { if (stats.open) loadStats(); });
    refreshers.push(() => {
      // The selected result shows its chart without a click.
      if (this.o.isSelected(layer) && !stats.open && !statsLoaded) { stats.open = true; loadStats(); }
    });
    const links = layer.result.links;
    const downloads = el('div', { class: 'downloads' },
      el('a', { class: 'button download-mask', href: links.mask, download: `${layer.result.name}-mask.tif` }, '↓ Mask (GeoTIFF COG)'),
      links.geojson ? el('a', { class: 'button download-geojson', href: links.geojson, download: `${layer.result.name}.geojson` }, '↓ Polygons (GeoJSON)') : null);
    element.append(legend.element, stats, downloads);
  }

  private buildChange(layer: ChangeLayer, element: HTMLElement, controls: HTMLElement, refreshers: Array<() => void>, toggle: (classId: number) => void): void {
    const swipe = el('button', { type: 'button', class: 'change-swipe', on: { click: () => this.o.swipe(layer) } }, '⇆ Swipe before / after');
    controls.append(swipe);
    refreshers.push(() => {
      const problem = this.o.swipeProblem(layer);
      swipe.disabled = problem !== null;
      swipe.title = problem ?? 'Show the two dates side by side with a slider';
    });
    const panel = createChangePanel(layer, () => this.o.api.get<ChangeStatistics>(layer.result.links.stats), toggle);
    refreshers.push(panel.refresh);
    const links = layer.result.links;
    const downloads = el('div', { class: 'downloads' },
      el('a', { class: 'button download-mask', href: links.mask, download: `${layer.result.name}-change.tif` }, '↓ Change mask (COG)'),
      el('a', { class: 'button download-stats', href: links.stats, download: `${layer.result.name}-change.json` }, '↓ Statistics (JSON)'),
      links.geojson ? el('a', { class: 'button download-geojson', href: links.geojson, download: `${layer.result.name}-change.geojson` }, '↓ Polygons (GeoJSON)') : null);
    element.append(panel.element, downloads);
  }

  private async switchMode(layer: ResultLayer, mode: ResultMode): Promise<void> {
    const { stack, api, toaster } = this.o;
    try {
      if (mode === 'vector') await layer.prepareVectors((url) => api.get<TileJson>(url));
      stack.rebuild(layer.key, () => { layer.mode = mode; });
    } catch (err) {
      toaster.error(`Polygons of ${layer.title} cannot be shown: ${describeError(err)}`);
      this.refresh();
    }
  }
}
