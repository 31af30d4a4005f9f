/**
 * Failed tile and TileJSON requests, told to the user in the server's words. MapLibre reports
 * only "Bad Request (400)"; asking the same URL again through the API client reads the
 * `{error, detail}` body that says why.
 */
import type * as maplibregl from 'maplibre-gl';
import { describeError, type ApiClient } from './api-client.ts';
import type { Toaster } from './toasts.ts';

const REPEAT_AFTER_MS = 15_000;

export function reportMapErrors(map: maplibregl.Map, api: ApiClient, toaster: Toaster, layerName: (sourceId: string) => string): void {
  const recent = new Set<string>();
  map.on('error', (e: maplibregl.ErrorEvent & { sourceId?: string }) => {
    const err = e.error as Error & { status?: number; url?: string };
    const key = `${e.sourceId ?? ''}|${err.status ?? err.message}`;
    // One broken layer fails every tile; say it once.
    if (recent.has(key)) return;
    recent.add(key);
    setTimeout(() => recent.delete(key), REPEAT_AFTER_MS);
    const what = e.sourceId ? layerName(e.sourceId) : 'The map';
    if (err.url && err.status && err.status >= 400) {
      api.get(err.url).then(
        () => toaster.error(`${what} could not be drawn: ${err.message}`),
        (apiErr: unknown) => toaster.error(`${what} could not be drawn: ${describeError(apiErr)}`),
      );
    } else {
      toaster.error(`${what} could not be drawn: ${err.message}`);
    }
  });
}
