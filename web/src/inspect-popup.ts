/**
 * Clicking the map shows what is under the cursor in every visible layer: pixel values of the
 * imagery, the class of a raster result, or the class and area of a result polygon.
 */
import * as maplibregl from 'maplibre-gl';
import { ApiError, describeError, type ApiClient } from './api-client.ts';
import type { ClassAtPoint, PointValues } from './api-types.ts';
import { DatasetLayer } from './dataset-layer.ts';
import type { DrawTool } from './draw-tool.ts';
import { el } from './element.ts';
import { swatch } from './swatch.ts';
import type { LayerStack } from './layer-stack.ts';
import { boundsContain } from './map-view.ts';
import { ResultLayer } from './result-layer.ts';
import type { Toaster } from './toasts.ts';
import { formatArea, formatLonLat } from './units.ts';

export interface InspectOptions {
  map: maplibregl.Map;
  stack: LayerStack;
  api: ApiClient;
  draw: DrawTool;
  toaster: Toaster;
}

async function resultSection(o: InspectOptions, layer: ResultLayer, e: maplibregl.MapMouseEvent): Promise<HTMLElement | null> {
  const head = el('h3', {}, layer.title);
  if (layer.mode === 'vector') {
    const [feature] = o.map.queryRenderedFeatures(e.point, { layers: layer.polygonLayerIds() });
    if (!feature) return el('section', { class: 'inspect-result' }, head, el('p', { class: 'muted' }, 'No polygon here.'));
    const props = feature.properties as { class?: string; area_m2?: number };
    const cls = layer.classes.find((c) => c.name === props.class);
    return el('section', { class: 'inspect-result', dataset: { class: props.class ?? '' } }, head,
      el('p', { class: 'inspect-class' }, swatch(cls?.color ?? null), `${props.class ?? 'unknown class'} polygon`),
      typeof props.area_m2 === 'number' ? el('p', { class: 'inspect-area' }, `Area: ${formatArea(props.area_m2)}`) : null);
  }
  const { lng, lat } = e.lngLat;
  const at = await o.api.get<ClassAtPoint>(`/results/${encodeURIComponent(layer.id)}/point?lon=${lng}&lat=${lat}`);
  if (at.nodata || !at.class) return el('section', { class: 'inspect-result' }, head, el('p', { class: 'muted' }, 'Not segmented here (no data).'));
  return el('section', { class: 'inspect-result', dataset: { class: at.class } }, head, el('p', { class: 'inspect-class' }, swatch(at.color), at.class));
}

async function datasetSection(o: InspectOptions, layer: DatasetLayer, e: maplibregl.MapMouseEvent): Promise<HTMLElement> {
  const { lng, lat } = e.lngLat;
  const point = await o.api.get<PointValues>(`/datasets/${encodeURIComponent(layer.id)}/point?lon=${lng}&lat=${lat}`);
  const head = el('h3', {}, layer.title);
  if (!point.valid) return el('section', { class: 'inspect-dataset' }, head, el('p', { class: 'muted' }, 'No data at this pixel.'));
  const rows = point.values.map((v) => el('tr', {}, el('th', {}, `Band ${v.band}${v.description ? ` (${v.description})` : ''}`), el('td', {}, Number.isInteger(v.value) ? String(v.value) : v.value.toPrecision(6))));
  return el('section', { class: 'inspect-dataset' }, head, el('table', { class: 'band-values' }, el('tbody', {}, ...rows)));
}

export function enableInspect(o: InspectOptions): void {
  const popup = new maplibregl.Popup({ maxWidth: '320px', className: 'inspect-popup', focusAfterOpen: false });
  o.map.on('click', (e) => {
    if (o.draw.ownsClick()) return;
    const { lng, lat } = e.lngLat;
    const here = o.stack.layers.filter((l) => l.visible && l.bounds && boundsContain(l.bounds, lng, lat));
    const body = el('div', { class: 'inspect', dataset: { state: 'loading' } }, el('p', { class: 'inspect-where' }, formatLonLat(lng, lat)));
    popup.setLngLat(e.lngLat).setDOMContent(body).addTo(o.map);
    if (!here.length) {
      body.append(el('p', { class: 'muted' }, 'No visible layer here.'));
      body.dataset.state = 'ready';
      return;
    }
    const pending = here.map((layer) => {
      const section = layer instanceof ResultLayer ? resultSection(o, layer, e) : datasetSection(o, layer as DatasetLayer, e);
      return section.catch((err: unknown) => {
        // Just outside the raster (its bounds are a box around a rotated footprint) is not an error.
        if (err instanceof ApiError && err.status === 404 && err.error === 'outside') return el('section', {}, el('h3', {}, layer.title), el('p', { class: 'muted' }, 'Outside this layer.'));
        const text = `${layer.title}: ${describeError(err)}`;
        o.toaster.error(`Inspect failed for ${text}`);
        return el('section', {}, el('h3', {}, layer.title), el('p', { class: 'error-text' }, describeError(err)));
      });
    });
    void Promise.all(pending).then((sections) => {
      body.append(...sections.filter((s): s is HTMLElement => s !== null));
      body.dataset.state = 'ready';
    });
  });
}
