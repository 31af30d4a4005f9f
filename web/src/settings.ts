/**
 * The settings box: the API key for servers that require one for changes.
 */
import { saveApiKey } from './api-key.ts';
import { el } from './element.ts';

export function createSettings(container: HTMLElement, key: { get(): string | null; set(k: string | null): void }, notice: (text: string) => void): void {
  const input = el('input', { type: 'password', id: 'api-key', autocomplete: 'off', placeholder: 'only if the server has SATSEG_API_KEY', value: key.get() ?? '' });
  const save = el('button', {
    type: 'button',
    on: {
      click: () => {
        const value = input.value.trim() || null;
        key.set(value);
        saveApiKey(value);
        notice(value ? 'API key saved in this browser.' : 'API key removed.');
      },
    },
  }, 'Save');
  container.append(el('details', { id: 'settings' }, el('summary', {}, 'Settings'),
    el('label', { class: 'field' }, 'API key', input), save,
    el('p', { class: 'muted' }, 'Sent as a Bearer token with uploads, jobs and cancels. Stored in this browser only.')));
}
