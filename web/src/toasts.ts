/**
 * Messages for the user at the bottom of the screen. Errors stay until closed or replaced by
 * newer ones, so an API failure is never silently dropped; notices fade on their own.
 */
import { el } from './element.ts';

export interface Toaster {
  error(message: string): void;
  notice(message: string): void;
  /** Every error shown since the page loaded (the test hook reads it). */
  readonly errors: readonly string[];
}

const MAX_VISIBLE = 4;

export function createToaster(container: HTMLElement): Toaster {
  const errors: string[] = [];
  const show = (message: string, kind: 'error' | 'notice', lifetimeMs: number) => {
    // The same error from many tiles at once is one message.
    for (const t of container.querySelectorAll<HTMLElement>('.toast')) if (t.dataset.message === message) t.remove();
    const close = el('button', { class: 'toast-close', type: 'button', attrs: { 'aria-label': 'Dismiss' }, on: { click: () => toast.remove() } }, '×');
    const toast = el('div', { class: `toast toast-${kind}`, dataset: { message }, attrs: { role: kind === 'error' ? 'alert' : 'status' } }, el('span', {}, message), close);
    container.append(toast);
    while (container.children.length > MAX_VISIBLE) container.firstElementChild?.remove();
    setTimeout(() => toast.remove(), lifetimeMs);
  };
  return {
    errors,
    error(message) {
      errors.push(message);
      console.warn(`[satseg] ${message}`);
      show(message, 'error', 20_000);
    },
    notice(message) {
      show(message, 'notice', 5_000);
    },
  };
}
