/**
 * Class areas of a result as a horizontal bar chart: km² and share of the classified area.
 */
import type { ResultStatistics } from './api-types.ts';
import { describeError } from './api-client.ts';
import { el } from './element.ts';
import { cssColor, swatch } from './swatch.ts';
import { formatKm2, formatPercent } from './units.ts';

/** A share (0..1) as a bar's width in percent; 0 for anything that is not a number. */
function barWidth(share: unknown): string {
  return typeof share === 'number' && Number.isFinite(share) ? Math.max(0, Math.min(100, share * 100)).toFixed(2) : '0';
}

export function renderStatsChart(stats: ResultStatistics): HTMLElement {
  const classes = stats.classes ?? [];
  if (!classes.length) return el('p', { class: 'muted' }, 'This result has no class statistics.');
  const total = stats.classified_area_m2 ?? classes.reduce((s, c) => s + c.area_m2, 0);
  const rows = classes.map((c) => el('div', { class: 'bar-row', dataset: { class: c.name } },
    el('span', { class: 'bar-label' }, swatch(c.color), c.name),
    el('span', { class: 'bar-track', attrs: { role: 'img', 'aria-label': `${c.name}: ${formatPercent(c.share)}` } },
      el('span', { class: 'bar-fill', attrs: { style: `width:${barWidth(c.share)}%;background:${cssColor(c.color)}` } })),
    el('span', { class: 'bar-value' }, `${formatKm2(c.area_m2)} · ${formatPercent(c.share)}`)));
  return el('div', { class: 'stats-chart' }, ...rows, el('p', { class: 'stats-total' }, `Classified area: ${formatKm2(total)}`));
}

/** A placeholder that fills itself in when the statistics arrive, or says why they did not. */
export function createStatsPanel(load: () => Promise<ResultStatistics>): HTMLElement {
  const box = el('div', { class: 'stats', dataset: { state: 'loading' } }, el('p', { class: 'muted' }, 'Loading statistics…'));
  load().then((stats) => {
    box.replaceChildren(renderStatsChart(stats));
    box.dataset.state = 'ready';
  }, (err: unknown) => {
    box.replaceChildren(el('p', { class: 'error-text' }, `Statistics could not be loaded: ${describeError(err)}`));
    box.dataset.state = 'error';
  });
  return box;
}
