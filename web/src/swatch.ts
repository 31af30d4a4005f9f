/**
 * A class's colour square. The colour comes from data (a model's or a mask's CLASS_COLORS, a
 * worker's stats.json): only a hex colour reaches the style attribute, since anything else
 * written there is CSS of the sender's choosing (probe: "red;background-image:url(…)" made the
 * viewer fetch a URL of theirs).
 */
import { el } from './element.ts';

/** `color` when it is #rgb, #rrggbb or #rrggbbaa, else transparent. */
export function cssColor(color: string | null | undefined): string {
  return typeof color === 'string' && /^#(?:[0-9a-f]{3}|[0-9a-f]{6}|[0-9a-f]{8})$/i.test(color) ? color : 'transparent';
}

export function swatch(color: string | null | undefined): HTMLElement {
  return el('span', { class: 'swatch', attrs: { style: `background:${cssColor(color)}` } });
}
