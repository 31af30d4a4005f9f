/**
 * A result's classes with their colours. Clicking a class hides it on the map (and clicking
 * again shows it), because picking out one class is the first thing an analyst does.
 */
import { el } from './element.ts';
import type { ResultLayer } from './result-layer.ts';

export interface Legend {
  element: HTMLElement;
  refresh(): void;
}

export function createLegend(layer: ResultLayer, onToggle: (classId: number) => void): Legend {
  const buttons = layer.classes.map((c) => el('button', {
    type: 'button',
    class: 'legend-item',
    dataset: { class: c.name },
    on: { click: () => onToggle(c.id) },
  }, el('span', { class: 'swatch', attrs: { style: `background:${c.color}` } }), el('span', { class: 'legend-name' }, c.name)));
  const element = el('ul', { class: 'legend', attrs: { 'aria-label': `Classes of ${layer.title}` } }, ...buttons.map((b) => el('li', {}, b)));
  const refresh = () => {
    layer.classes.forEach((c, i) => {
      const shown = !layer.hidden.has(c.id);
      const b = buttons[i]!;
      b.setAttribute('aria-pressed', String(shown));
      b.title = shown ? `Hide ${c.name}` : `Show ${c.name}`;
    });
  };
  refresh();
  return { element, refresh };
}
