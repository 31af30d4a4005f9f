/**
 * "Segment an area": pick a dataset and a model (only models whose bands fit are enabled), draw a
 * rectangle or polygon, submit, and follow the job with a live progress bar and a cancel button.
 */
import type { ApiClient } from './api-client.ts';
import { describeError } from './api-client.ts';
import { TERMINAL_STATUSES, type Dataset, type Job, type JobAccepted, type Model } from './api-types.ts';
import type { DrawTool } from './draw-tool.ts';
import { el } from './element.ts';
import { area as areaM2 } from '@turf/turf';
import { watchJob, type JobWatch } from './job-watch.ts';
import { modelFit } from './model-fit.ts';
import type { Toaster } from './toasts.ts';
import { formatDuration, formatKm2 } from './units.ts';

export interface JobPanelOptions {
  api: ApiClient;
  toaster: Toaster;
  draw: DrawTool;
  /** The user picked another dataset in the form. */
  onDatasetChange(datasetId: string): void;
  /** A job succeeded: show its result (the URL of its description). */
  onResult(resultUrl: string): Promise<void>;
}

function progressText(job: Job): string {
  const p = job.progress;
  switch (job.status) {
    case 'queued': return 'Waiting for a free worker…';
    case 'succeeded': return 'Done: the result is on the map.';
    case 'cancelled': return 'Cancelled.';
    case 'failed': return `Failed: ${job.error ?? 'no reason given'}`;
    default: {
      const stage = p.stage ? p.stage[0]!.toUpperCase() + p.stage.slice(1) : 'Running';
      const parts = [stage];
      if (p.tiles_total) parts.push(`${p.tiles_done} / ${p.tiles_total} tiles`);
      if (p.mpx_per_sec) parts.push(`${p.mpx_per_sec.toFixed(2)} Mpx/s`);
      if (p.eta_seconds !== null && p.eta_seconds > 0) parts.push(`about ${formatDuration(p.eta_seconds)} left`);
      return parts.join(' · ');
    }
  }
}

export class JobPanel {
  private datasets: Dataset[] = [];
  private models: Model[] = [];
  private watch: JobWatch | null = null;
  private job: Job | null = null;
  /** True while a job is followed to its end (one at a time in this panel). */
  private watching = false;

  private readonly datasetSelect = el('select', { id: 'job-dataset', on: { change: () => this.datasetChanged() } });
  private readonly modelSelect = el('select', { id: 'job-model', on: { change: () => this.refresh() } });
  private readonly modelInfo = el('p', { class: 'muted model-info' });
  private readonly drawRect = el('button', { type: 'button', id: 'draw-rectangle', on: { click: () => this.toggleDraw('rectangle') } }, '▭ Rectangle');
  private readonly drawPoly = el('button', { type: 'button', id: 'draw-polygon', on: { click: () => this.toggleDraw('polygon') } }, '⬠ Polygon');
  private readonly drawClear = el('button', { type: 'button', id: 'draw-clear', on: { click: () => this.o.draw.clear() } }, 'Clear');
  private readonly areaInfo = el('p', { id: 'draw-hint', class: 'muted' });
  private readonly vector = el('input', { type: 'checkbox', id: 'job-vector', checked: true });
  private readonly run = el('button', { type: 'button', id: 'job-run', class: 'primary', on: { click: () => void this.submit() } }, 'Segment');
  private readonly bar = el('progress', { id: 'job-bar', max: 100, value: 0 });
  private readonly barText = el('span', { class: 'progress-text' });
  private readonly percent = el('span', { class: 'progress-percent' }, '0 %');
  private readonly cancel = el('button', { type: 'button', id: 'job-cancel', on: { click: () => void this.cancelJob() } }, 'Cancel');
  private readonly progress = el('div', { id: 'job-progress', dataset: { status: 'idle' }, hidden: true, attrs: { role: 'status', 'aria-live': 'polite' } },
    el('div', { class: 'progress-row' }, this.bar, this.percent, this.cancel), this.barText);
  private readonly message = el('p', { id: 'job-message', class: 'error-text', attrs: { role: 'alert' }, hidden: true });
  // Kept on screen (not only toasted): a warning such as "5x coarser than the model" explains the result.
  private readonly notices = el('ul', { id: 'job-notices', class: 'notices', hidden: true });

  constructor(container: HTMLElement, private readonly o: JobPanelOptions) {
    container.append(
      el('label', { class: 'field' }, 'Dataset', this.datasetSelect),
      el('label', { class: 'field' }, 'Model', this.modelSelect),
      this.modelInfo,
      el('div', { class: 'button-row draw-buttons', attrs: { role: 'group', 'aria-label': 'Draw an area' } }, this.drawRect, this.drawPoly, this.drawClear),
      this.areaInfo,
      el('label', { class: 'check' }, this.vector, 'Also make polygons (vector tiles, GeoJSON)'),
      this.run,
      this.progress,
      this.notices,
      this.message,
    );
    o.draw.onChange(() => this.refresh());
    this.refresh();
  }

  get datasetId(): string | null {
    return this.datasetSelect.value || null;
  }

  /** The job shown in the progress bar (for the test hook). */
  get currentJob(): Job | null {
    return this.job;
  }

  setCatalog(datasets: Dataset[], models: Model[]): void {
    const keep = this.datasetSelect.value;
    this.datasets = datasets.filter((d) => d.usable);
    this.models = models;
    this.datasetSelect.replaceChildren(...this.datasets.map((d) => el('option', { value: d.id }, d.name)));
    if (!this.datasets.length) this.datasetSelect.append(el('option', { value: '', disabled: true, selected: true }, 'No usable dataset: upload one'));
    if (keep && this.datasets.some((d) => d.id === keep)) this.datasetSelect.value = keep;
    this.fillModels();
  }

  selectDataset(id: string): void {
    if (!this.datasets.some((d) => d.id === id) || this.datasetSelect.value === id) return;
    this.datasetSelect.value = id;
    this.fillModels();
  }

  private get dataset(): Dataset | null {
    return this.datasets.find((d) => d.id === this.datasetSelect.value) ?? null;
  }

  private datasetChanged(): void {
    this.fillModels();
    if (this.datasetId) this.o.onDatasetChange(this.datasetId);
  }

  private fillModels(): void {
    const keep = this.modelSelect.value;
    const fits = this.models.map((m) => modelFit(m, this.dataset));
    this.modelSelect.replaceChildren(...fits.map((f) => el('option', {
      value: f.model.id,
      disabled: !f.fits,
      title: f.reason,
    }, f.fits ? f.model.id : `${f.model.id} (${f.reason})`)));
    if (!this.models.length) this.modelSelect.append(el('option', { value: '', disabled: true, selected: true }, 'No model installed'));
    const fitting = fits.filter((f) => f.fits).map((f) => f.model.id);
    this.modelSelect.value = fitting.includes(keep) ? keep : fitting[0] ?? '';
    this.refresh();
  }

  private toggleDraw(shape: 'rectangle' | 'polygon'): void {
    if (this.o.draw.shape === shape) this.o.draw.stop();
    else this.o.draw.start(shape);
  }

  private refresh(): void {
    const model = this.models.find((m) => m.id === this.modelSelect.value);
    this.modelInfo.textContent = model
      ? `${model.description ?? ''} ${model.resolution_m ? `Trained at ${model.resolution_m} m.` : ''} Classes: ${(model.classes ?? []).map((c) => c.name).join(', ')}.`.trim()
      : this.models.length ? 'No installed model fits this dataset.' : '';
    const draw = this.o.draw;
    this.drawRect.setAttribute('aria-pressed', String(draw.shape === 'rectangle'));
    this.drawPoly.setAttribute('aria-pressed', String(draw.shape === 'polygon'));
    const area = draw.area;
    if (draw.shape === 'rectangle') this.areaInfo.textContent = 'Click one corner on the map, then the opposite corner. Esc stops.';
    else if (draw.shape === 'polygon') this.areaInfo.textContent = 'Click to add corners; click the first corner or press Enter to finish.';
    else this.areaInfo.textContent = area ? `Area: ${formatKm2(areaM2(area))}` : 'No area drawn: the whole dataset will be segmented.';
    this.drawClear.disabled = !area;
    this.run.disabled = this.watching || !this.datasetId || !this.modelSelect.value;
    this.run.textContent = area ? 'Segment the area' : 'Segment the whole dataset';
  }

  private showMessage(text: string | null): void {
    this.message.hidden = !text;
    this.message.textContent = text ?? '';
  }

  private async submit(): Promise<void> {
    const dataset = this.datasetId;
    const model = this.modelSelect.value;
    if (!dataset || !model) return;
    this.o.draw.stop();
    this.showMessage(null);
    const area = this.o.draw.area;
    this.run.disabled = true;
    try {
      const accepted = await this.o.api.post<JobAccepted>('/jobs', {
        dataset,
        model,
        ...(area ? { area } : {}),
        options: { vector: this.vector.checked },
      });
      this.follow(accepted.job);
    } catch (err) {
      const text = `The job was refused: ${describeError(err)}`;
      this.showMessage(text);
      this.o.toaster.error(text);
      this.refresh();
    }
  }

  /** Shows the progress of a job (one just submitted, or one found running at page load). */
  follow(job: Job): void {
    this.watch?.stop();
    this.watching = true;
    this.show(job);
    this.watch = watchJob(this.o.api, job.id, (j) => this.show(j));
    this.watch.done.then(async (final) => {
      if (final.status === 'succeeded' && final.results) {
        this.o.draw.clear();
        await this.o.onResult(final.results.result);
      } else if (final.status === 'failed') {
        this.o.toaster.error(`The job failed: ${final.error ?? 'no reason given'}`);
      }
      this.progress.dataset.status = final.status;
    }).catch((err: unknown) => {
      const text = `Lost track of the job: ${describeError(err)}`;
      this.showMessage(text);
      this.o.toaster.error(text);
      this.progress.dataset.status = 'error';
    }).finally(() => {
      this.progress.dataset.done = 'true';
      this.cancel.hidden = true;
      this.watching = false;
      this.refresh();
    });
  }

  private show(job: Job): void {
    this.job = job;
    const pct = Math.max(0, Math.min(100, Math.round(job.progress.percent ?? 0)));
    this.progress.hidden = false;
    // data-status follows the server, except that "succeeded" waits until the layer is added.
    this.progress.dataset.status = job.status === 'succeeded' ? 'finishing' : job.status;
    this.progress.dataset.done = 'false';
    this.progress.dataset.percent = String(pct);
    this.progress.dataset.job = job.id;
    this.bar.value = pct;
    this.percent.textContent = `${pct} %`;
    this.barText.textContent = progressText(job);
    const notices = job.notices ?? [];
    if (this.notices.dataset.job !== job.id || notices.length !== this.notices.childElementCount) {
      this.notices.replaceChildren(...notices.map((n) => el('li', {}, n)));
      this.notices.dataset.job = job.id;
    }
    this.notices.hidden = notices.length === 0;
    this.cancel.hidden = TERMINAL_STATUSES.has(job.status);
    this.refresh();
  }

  private async cancelJob(): Promise<void> {
    if (!this.job) return;
    this.cancel.disabled = true;
    try {
      await this.o.api.delete<Job>(`/jobs/${encodeURIComponent(this.job.id)}`);
    } catch (err) {
      this.o.toaster.error(`The job could not be cancelled: ${describeError(err)}`);
    } finally {
      this.cancel.disabled = false;
    }
  }
}
