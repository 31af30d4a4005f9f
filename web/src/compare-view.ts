/**
 * Two dates side by side: the earlier imagery on a second map left of a slider, the main map (the
 * later imagery, the change layer and everything else in the layer panel) right of it. The
 * slider and the synchronised movement are MapLibre's compare plugin; this adds the second map,
 * the labels, a close button and keyboard control of the slider.
 */
import Compare from '@maplibre/maplibre-gl-compare';
import type * as maplibregl from 'maplibre-gl';
import type { Dataset } from './api-types.ts';
import { DatasetLayer } from './dataset-layer.ts';
import { el } from './element.ts';
import { createMap, DATA_TOP, whenIdle } from './map-view.ts';

export interface CompareViewOptions {
  main: maplibregl.Map;
  /** The element around both maps (the plugin puts its slider in it). */
  area: HTMLElement;
  /** The element the left map fills; hidden while no comparison is shown. */
  container: HTMLElement;
  /** Called with each left map made, e.g. to report its tile errors. */
  onMap(map: maplibregl.Map): void;
  /** Called after the view closed (by its button or by close()). */
  onClose(): void;
}

export interface CompareSides {
  before: Dataset;
  /** The band preset the before imagery shows, as in the layer panel. */
  beforePreset: string | null;
  afterTitle: string;
}

/** One arrow key moves the slider this share of the width (Shift: four times as far). */
const KEY_STEP = 0.05;

export class CompareView {
  private left: maplibregl.Map | null = null;
  private compare: Compare | null = null;
  private sides: CompareSides | null = null;
  private readonly beforeLabel = el('div', { id: 'compare-before-label', class: 'compare-label compare-label-before' });
  private readonly afterLabel = el('div', { id: 'compare-after-label', class: 'compare-label compare-label-after' });
  private readonly closeButton = el('button', { type: 'button', id: 'compare-close', class: 'compare-close', on: { click: () => this.close() } }, '✕ End swipe');

  constructor(private readonly o: CompareViewOptions) {}

  get isOpen(): boolean {
    return this.compare !== null;
  }

  /** The before dataset shown, while open. */
  get beforeId(): string | null {
    return this.sides?.before.id ?? null;
  }

  /** The slider's distance from the left edge, in CSS pixels (null while closed). */
  get position(): number | null {
    return this.compare?.currentPosition ?? null;
  }

  /** Opens the comparison, or changes what the left side shows if it is open. */
  async open(sides: CompareSides): Promise<void> {
    this.close(false);
    this.sides = sides;
    const { main } = this.o;
    this.o.container.hidden = false;
    const left = createMap(this.o.container, { navigation: false, center: main.getCenter().toArray() as [number, number], zoom: main.getZoom() });
    this.left = left;
    this.o.onMap(left);
    await new Promise<void>((resolve) => left.once('load', () => resolve()));
    if (this.left !== left) return; // closed while loading
    const imagery = new DatasetLayer(sides.before);
    if (sides.beforePreset) imagery.choosePreset(sides.beforePreset);
    imagery.mount(left, DATA_TOP);
    this.beforeLabel.textContent = `◀ Before: ${sides.before.name}`;
    this.afterLabel.textContent = `After: ${sides.afterTitle} ▶`;
    this.o.area.append(this.beforeLabel, this.afterLabel, this.closeButton);
    this.compare = new Compare(left, main, this.o.area, { orientation: 'vertical' });
    this.makeKeyboardSlider();
  }

  /** Moves the slider to a share (0 = all after, 1 = all before) of the width. */
  setShare(share: number): void {
    const width = this.o.main.getContainer().clientWidth;
    this.compare?.setSlider(Math.max(0, Math.min(1, share)) * width);
    this.updateAria();
  }

  close(notify = true): void {
    const wasOpen = this.left !== null;
    this.compare?.remove();
    this.compare = null;
    this.left?.remove();
    this.left = null;
    this.sides = null;
    this.o.container.hidden = true;
    for (const e of [this.beforeLabel, this.afterLabel, this.closeButton]) e.remove();
    if (wasOpen && notify) this.o.onClose();
  }

  /** Resolves once the left map (if open) has drawn its tiles. */
  whenIdle(): Promise<void> {
    return this.left ? whenIdle(this.left) : Promise.resolve();
  }

  /** The plugin's handle is a plain div: give it a role, a focus stop and arrow keys. */
  private makeKeyboardSlider(): void {
    const handle = this.o.area.querySelector<HTMLElement>('.compare-swiper-vertical');
    if (!handle) return;
    handle.tabIndex = 0;
    handle.setAttribute('role', 'slider');
    handle.setAttribute('aria-label', 'Swipe between the before and after imagery');
    handle.setAttribute('aria-valuemin', '0');
    handle.setAttribute('aria-valuemax', '100');
    handle.addEventListener('keydown', (e) => {
      const width = this.o.main.getContainer().clientWidth;
      const step = (e.shiftKey ? 4 : 1) * KEY_STEP;
      const share = (this.position ?? 0) / width;
      if (e.key === 'ArrowLeft') this.setShare(share - step);
      else if (e.key === 'ArrowRight') this.setShare(share + step);
      else return;
      e.preventDefault();
    });
    this.compare?.on('slideend', () => this.updateAria());
    this.updateAria();
  }

  private updateAria(): void {
    const handle = this.o.area.querySelector<HTMLElement>('.compare-swiper-vertical');
    const width = this.o.main.getContainer().clientWidth;
    if (!handle || !width || this.position === null) return;
    const pct = Math.round((this.position / width) * 100);
    handle.setAttribute('aria-valuenow', String(pct));
    handle.setAttribute('aria-valuetext', `${pct} % before, ${100 - pct} % after`);
  }
}
