/**
 * A result's classes with their colours. Clicking a class hides it on the map (and clicking
 * again shows it), because picking out one class is the first thing an analyst does.
 */
import type { ModelClass } from './api-types.ts';
import { el } from './element.ts';
import { swatch } from './swatch.ts';
import type { ResultLayer } from './result-layer.ts';

export interface Legend {
  element: HTMLElement;
  refresh(): void;
}

/**
 * `classes` defaults to all of the layer's; a change result lists only the transitions that occur.
 * `detail` adds a figure after a class name (its area).
 */
export function createLegend(layer: ResultLayer, onToggle: (classId: number) => void, classes: ModelClass[] = layer.classes, detail?: (c: ModelClass) => string): Legend {
  const buttons = classes.map((c) => el('button', {
    type: 'button',
    class: 'legend-item',
    dataset: { class: c.name },
    on: { click: () => onToggle(c.id) },
  }, swatch(c.color), el('span', { class: 'legend-name' }, c.name),
  detail ? el('span', { class: 'legend-detail' }, detail(c)) : null));
  const element = el('ul', { class: 'legend', attrs: { 'aria-label': `Classes of ${layer.title}` } }, ...buttons.map((b) => el('li', {}, b)));
  const refresh = () => {
    classes.forEach((c, i) => {
      const shown = !layer.hidden.has(c.id);
      const b = buttons[i]!;
      b.setAttribute('aria-pressed', String(shown));
      b.title = shown ? `Hide ${c.name}` : `Show ${c.name}`;
    });
  };
  refresh();
  return { element, refresh };
}
