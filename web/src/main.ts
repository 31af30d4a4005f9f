/**
 * The satseg viewer (minimal first version): datasets from the API as raster layers.
 */
import * as maplibregl from 'maplibre-gl';

interface Dataset { id: string; name: string; usable: boolean; bounds: [number, number, number, number] | null; error?: string }

const map = new maplibregl.Map({
  container: 'map',
  style: { version: 8, sources: {}, layers: [{ id: 'background', type: 'background', paint: { 'background-color': '#e8ecf1' } }] },
  center: [0, 20],
  zoom: 1,
});

function showError(message: string): void {
  const toast = document.getElementById('toast')!;
  toast.textContent = message;
  toast.hidden = false;
  setTimeout(() => { toast.hidden = true; }, 8000);
}

async function api<T>(path: string): Promise<T> {
  const res = await fetch(path);
  const body = await res.json().catch(() => null);
  if (!res.ok) throw new Error(body?.detail ?? `${res.status} ${res.statusText}`);
  return body as T;
}

async function load(): Promise<void> {
  const { datasets } = await api<{ datasets: Dataset[] }>('/datasets');
  const list = document.getElementById('layers')!;
  for (const d of datasets) {
    const row = document.createElement('label');
    row.textContent = d.usable ? d.name : `${d.name} (unusable: ${d.error})`;
    list.append(row);
    if (!d.usable || !d.bounds) continue;
    map.addSource(`dataset-${d.id}`, { type: 'raster', url: `/datasets/${d.id}/tilejson.json`, tileSize: 256 });
    map.addLayer({ id: `dataset-${d.id}`, type: 'raster', source: `dataset-${d.id}` });
    map.fitBounds(d.bounds, { padding: 40, duration: 0 });
  }
}

map.on('load', () => { load().catch((err: Error) => showError(err.message)); });
