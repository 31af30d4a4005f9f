/**
 * The satseg viewer: wires the map, the layer panel, the segment form, the before/after swipe,
 * uploads, inspection and the shareable URL together. Each part lives in its own module; this
 * file only connects them.
 */
import { ApiClient, describeError } from './api-client.ts';
import { initialApiKey } from './api-key.ts';
import type { Bounds, Dataset, Job, Model, Result } from './api-types.ts';
import { loadCatalog } from './catalog.ts';
import { ChangeLayer } from './change-layer.ts';
import { DatasetLayer } from './dataset-layer.ts';
import { DateSwipe } from './date-swipe.ts';
import { DrawTool } from './draw-tool.ts';
import { byId, el } from './element.ts';
import { enableInspect } from './inspect-popup.ts';
import { JobPanel } from './job-panel.ts';
import { LayerPanel } from './layer-panel.ts';
import { LayerStack } from './layer-stack.ts';
import type { MapLayer } from './map-layer.ts';
import { reportMapErrors } from './map-errors.ts';
import { createMap, fitTo, setFootprints, whenIdle } from './map-view.ts';
import { ResultLayer } from './result-layer.ts';
import { createSettings } from './settings.ts';
import { exposeHook, setPageState } from './test-hook.ts';
import { createToaster } from './toasts.ts';
import { formatLonLat } from './units.ts';
import { Uploader } from './upload.ts';
import { UrlState, type ViewState } from './url-state.ts';

setPageState('loading');
let apiKey = initialApiKey();
const api = new ApiClient(() => apiKey);
const toaster = createToaster(byId('toasts'));
const url = new UrlState();
const map = createMap(byId('map'));
const datasets: Dataset[] = [];
let models: Model[] = [];
/** Every result shown, by id: a change result names the class masks it compared. */
const results = new Map<string, Result>();

function unionBounds(list: Bounds[]): Bounds | null {
  if (!list.length) return null;
  return list.reduce((a, b) => [Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.max(a[2], b[2]), Math.max(a[3], b[3])]);
}

map.on('load', () => {
  const stack = new LayerStack(map);
  const draw = new DrawTool(map);
  const selected = { dataset: null as string | null, result: null as string | null };

  const select = (layer: MapLayer) => {
    if (layer instanceof ResultLayer) {
      selected.result = layer.id;
      selected.dataset = layer.result.dataset;
    } else {
      selected.dataset = layer.id;
    }
    if (selected.dataset) jobs.selectDataset(selected.dataset);
    url.update({ dataset: selected.dataset ?? undefined, result: selected.result ?? undefined });
    panel.refresh();
  };
  const zoomTo = (layer: MapLayer) => { if (layer.bounds) fitTo(map, layer.bounds, true); };

  const panel = new LayerPanel(byId('layers'), {
    stack, api, toaster, zoomTo, select,
    isSelected: (l) => (l.kind === 'result' ? l.id === selected.result : l.id === selected.dataset),
    compareFrom: (layer) => jobs.compareFrom(layer.id),
    swipe: (layer) => swipe.showChange(layer),
    swipeProblem: (layer) => swipe.problem(layer),
  });

  /** The datasets that can be drawn on the map. */
  const mappable = () => datasets.filter((x) => x.usable && x.bounds);
  const showFootprints = () => setFootprints(map, mappable().map((x) => ({ name: x.name, bounds: x.bounds! })));
  const listBroken = (name: string, reason: string) => byId('broken').append(el('li', {}, el('strong', {}, name), `: ${reason}`));

  /** Adds a dataset to the list and the layer stack; call showFootprints() after a batch of them. */
  const addDataset = (d: Dataset): DatasetLayer | null => {
    const i = datasets.findIndex((x) => x.id === d.id);
    if (i >= 0) datasets[i] = d;
    else datasets.push(d);
    if (!d.usable || !d.bounds) {
      listBroken(d.name, d.usable ? 'not georeferenced on Earth, so it cannot be shown on the map' : d.error ?? 'cannot be read');
      return null;
    }
    const layer = new DatasetLayer(d);
    stack.add(layer);
    return layer;
  };

  const addResult = (r: Result, visible = true): ResultLayer => {
    results.set(r.id, r);
    const layer = r.kind === 'change' ? new ChangeLayer(r) : new ResultLayer(r);
    layer.visible = visible;
    stack.add(layer);
    return layer;
  };

  const layerName = (sourceId: string) => stack.layers.find((l) => l.sourceIds().includes(sourceId))?.title ?? sourceId;
  const swipe = new DateSwipe({
    map, stack, draw, toaster,
    area: byId('map-area'),
    container: byId('map-before'),
    onMap: (left) => reportMapErrors(left, api, toaster, layerName),
    mappable,
    result: (id) => results.get(id),
  });

  /** A change job's results: the two class masks (listed, switched off) and the change on top, side by side. */
  const showChange = async (job: Job) => {
    const links = job.results!;
    const get = (url: string | undefined) => (url ? api.get<Result>(url) : Promise.resolve(null));
    const [before, after, change] = await Promise.all([get(links.before?.result), get(links.after?.result), get(links.change?.result ?? links.result)]);
    for (const r of [before, after]) if (r && !results.has(r.id)) addResult(r, false);
    const layer = addResult(change!);
    select(layer);
    if (layer.bounds) fitTo(map, layer.bounds);
    if (job.before) await swipe.show(job.before, job.dataset);
    toaster.notice(`${change!.name} is ready.`);
  };

  const jobs = new JobPanel(byId('segment'), {
    api, toaster, draw,
    onDatasetChange: (id) => {
      const layer = stack.find(`dataset:${id}`);
      if (layer) select(layer);
    },
    onResult: async (job) => {
      try {
        if (job.kind === 'change') {
          await showChange(job);
          return;
        }
        const result = await api.get<Result>(job.results!.result);
        const layer = addResult(result);
        select(layer);
        if (layer.bounds) fitTo(map, layer.bounds);
        toaster.notice(`${result.name} is ready.`);
      } catch (err) {
        toaster.error(`The job finished but its result cannot be shown: ${describeError(err)}`);
      }
    },
    onSwipe: (beforeId, afterId) => void swipe.show(beforeId, afterId),
  });

  new Uploader(byId('upload'), {
    api, toaster,
    dropTarget: document.body,
    dropHint: byId('drop-hint'),
    onUploaded: async (d) => {
      const layer = addDataset(d);
      showFootprints();
      jobs.setCatalog(datasets, models);
      if (layer) {
        select(layer);
        if (layer.bounds) fitTo(map, layer.bounds);
      }
    },
  });

  createSettings(byId('settings-box'), { get: () => apiKey, set: (k) => { apiKey = k; } }, (t) => toaster.notice(t));
  enableInspect({ map, stack, api, draw, toaster });
  reportMapErrors(map, api, toaster, layerName);

  const coords = byId('coords');
  map.on('mousemove', (e) => { coords.textContent = `${formatLonLat(e.lngLat.lng, e.lngLat.lat)} · z${map.getZoom().toFixed(1)}`; });
  map.on('moveend', () => {
    const c = map.getCenter();
    url.update({ map: { zoom: map.getZoom(), lat: c.lat, lon: c.lng } });
  });

  /** Shows what a link names: those layers visible and selected, and the map where it says. */
  const applyView = (view: ViewState, firstLoad: boolean) => {
    const dataset = view.dataset ? stack.find(`dataset:${view.dataset}`) : undefined;
    const result = view.result ? stack.find(`result:${view.result}`) : undefined;
    if (view.dataset && !dataset) toaster.error(`The link names dataset "${view.dataset}", which this server does not have (or cannot show).`);
    if (view.result && !result) toaster.error(`The link names result "${view.result}", which this server does not have.`);
    if (firstLoad && (dataset || result)) {
      // A shared link shows what it names; the other layers stay listed, switched off.
      const datasetId = dataset?.id ?? (result as ResultLayer | undefined)?.result.dataset;
      for (const l of stack.layers) {
        const shown = l.kind === 'dataset' ? l.id === datasetId : result ? l === result : (l as ResultLayer).result.dataset === datasetId;
        if (l.visible !== shown) stack.setVisible(l.key, shown);
      }
    }
    if (result) select(result);
    else if (dataset) select(dataset);
    if (view.map) map.jumpTo({ center: [view.map.lon, view.map.lat], zoom: view.map.zoom });
    else if (result?.bounds) fitTo(map, result.bounds);
    else if (dataset?.bounds) fitTo(map, dataset.bounds);
    else if (firstLoad) {
      const all = unionBounds(mappable().map((d) => d.bounds!));
      if (all) fitTo(map, all);
    }
  };

  exposeHook({
    map, stack, draw,
    errors: toaster.errors,
    whenIdle: async () => { await Promise.all([whenIdle(map), swipe.view.whenIdle()]); },
    job: () => jobs.currentJob,
    compare: () => ({ open: swipe.view.isOpen, position: swipe.view.position, before: swipe.view.beforeId }),
    setSwipe: (share) => swipe.view.setShare(share),
  });

  void loadCatalog(api, (m) => toaster.error(m)).then((catalog) => {
    models = catalog.models;
    for (const d of catalog.datasets) addDataset(d);
    showFootprints();
    for (const r of catalog.results) addResult(r);
    for (const r of catalog.brokenResults) listBroken(r.name, r.error);
    jobs.setCatalog(datasets, models);
    const showEmpty = () => { byId('layers-empty').hidden = stack.layers.length > 0; };
    showEmpty();
    stack.onChange(showEmpty);
    applyView(url.current, true);
    url.onExternalChange((view) => applyView(view, false));
    // A running job shows live progress; otherwise the newest queued one.
    const running = catalog.activeJobs.find((j) => j.status === 'running') ?? catalog.activeJobs[0];
    if (running) jobs.follow(running);
    setPageState('ready');
  }).catch((err: unknown) => {
    toaster.error(`The viewer could not start: ${describeError(err)}`);
    setPageState('error');
  });
});
