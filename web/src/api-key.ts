/**
 * The optional API key for servers started with SATSEG_API_KEY: reads stay open, changes
 * (upload, jobs, cancel) need it. It comes from `?key=` once, then lives in localStorage.
 */
const STORAGE_KEY = 'satseg.apiKey';

function storage(): Storage | null {
  try {
    return window.localStorage;
  } catch {
    return null; // private modes and sandboxed frames may forbid storage
  }
}

/** The key to send, taking `?key=` from the address (and removing it, so shared links do not leak it). */
export function initialApiKey(): string | null {
  const url = new URL(window.location.href);
  const fromUrl = url.searchParams.get('key');
  if (fromUrl) {
    saveApiKey(fromUrl);
    url.searchParams.delete('key');
    history.replaceState(history.state, '', url.toString());
    return fromUrl;
  }
  return storage()?.getItem(STORAGE_KEY) || null;
}

export function saveApiKey(key: string | null): void {
  const s = storage();
  if (!s) return;
  if (key) s.setItem(STORAGE_KEY, key);
  else s.removeItem(STORAGE_KEY);
}
