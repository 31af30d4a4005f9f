/**
 * What a change result says, in its layer entry: the headline an analyst reports first ("newly
 * water: 2.14 km²" after a flood), the legend of the transitions that occur (click to hide one),
 * and a table of the area each class gained, lost and netted. Figures come from stats.json as is.
 */
import { describeError } from './api-client.ts';
import type { ChangeStatistics, ClassChange, ModelClass } from './api-types.ts';
import type { ChangeLayer } from './change-layer.ts';
import { el } from './element.ts';
import { swatch } from './swatch.ts';
import { createLegend, type Legend } from './legend.ts';
import { formatKm2, formatPercent, km2Number, signedKm2Number } from './units.ts';

export interface ChangePanel {
  element: HTMLElement;
  refresh(): void;
}

/** Classes that gained area, water first (the flood question), then by area gained. */
function gains(stats: ChangeStatistics): ClassChange[] {
  return stats.per_class.filter((c) => c.gained_m2 > 0)
    .sort((a, b) => Number(b.name === 'water') - Number(a.name === 'water') || b.gained_m2 - a.gained_m2);
}

function headline(layer: ChangeLayer, stats: ChangeStatistics): HTMLElement {
  const gained = gains(stats);
  if (!gained.length) return el('p', { class: 'change-headline muted' }, 'No class gained area: nothing changed here.');
  return el('ul', { class: 'change-headline' }, ...gained.map((c) => el('li', { dataset: { class: c.name, m2: String(c.gained_m2) } },
    swatch(layer.colourOf(c.name)), `Newly ${c.name}: `, el('strong', {}, formatKm2(c.gained_m2)))));
}

function table(layer: ChangeLayer, stats: ChangeStatistics): HTMLElement {
  const cell = (kind: string, m2: number, text: string) => el('td', { class: kind, dataset: { m2: String(m2) } }, text);
  const rows = stats.per_class.map((c) => el('tr', { dataset: { class: c.name } },
    el('th', { scope: 'row' }, swatch(layer.colourOf(c.name)), c.name),
    cell('gained', c.gained_m2, km2Number(c.gained_m2)),
    cell('lost', c.lost_m2, km2Number(c.lost_m2)),
    cell('net', c.net_m2, signedKm2Number(c.net_m2))));
  return el('table', { class: 'change-table' },
    el('caption', { class: 'visually-hidden' }, 'Area gained, lost and net per class, in km²'),
    el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Class'), el('th', { scope: 'col' }, 'Gained km²'), el('th', { scope: 'col' }, 'Lost km²'), el('th', { scope: 'col' }, 'Net km²'))),
    el('tbody', {}, ...rows));
}

export function createChangePanel(layer: ChangeLayer, load: () => Promise<ChangeStatistics>, onToggle: (classId: number) => void): ChangePanel {
  const element = el('div', { class: 'change-summary', dataset: { state: 'loading' } }, el('p', { class: 'muted' }, 'Loading the change statistics…'));
  let legend: Legend | null = null;
  load().then((stats) => {
    // Only the transitions that occur, largest first: a 9-class model has 72 possible ones.
    const byCode = new Map(layer.classes.map((c) => [c.id, c]));
    const occurring = stats.transitions.map((t) => byCode.get(t.code)).filter((c): c is ModelClass => c !== undefined);
    const areaOf = new Map(stats.transitions.map((t) => [t.code, t.area_m2]));
    legend = createLegend(layer, onToggle, occurring, (c) => formatKm2(areaOf.get(c.id) ?? 0));
    legend.element.classList.add('change-legend');
    element.replaceChildren(
      headline(layer, stats),
      el('p', { class: 'change-share muted' }, `${formatPercent(stats.changed_share)} of the ${formatKm2(stats.valid_area_m2)} compared changed.`),
      occurring.length ? legend.element : el('p', { class: 'muted' }, 'No transitions to show.'),
      table(layer, stats),
    );
    element.dataset.state = 'ready';
  }, (err: unknown) => {
    element.replaceChildren(el('p', { class: 'error-text' }, `The change statistics could not be loaded: ${describeError(err)}`));
    element.dataset.state = 'error';
  });
  return { element, refresh: () => legend?.refresh() };
}
