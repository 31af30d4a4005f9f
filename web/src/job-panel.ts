/**
 * "Segment an area": pick a dataset and a model (fitting models first, unsuitable ones disabled
 * with the server's reason), draw a rectangle or polygon, submit, and follow the job with a live
 * progress bar and a cancel button. "Compare with…" an earlier dataset makes it a change job:
 * both dates are segmented over the area and compared.
 */
import type { ApiClient } from './api-client.ts';
import { describeError } from './api-client.ts';
import type { Dataset, Job, JobAccepted, Model } from './api-types.ts';
import type { DrawTool } from './draw-tool.ts';
import { el } from './element.ts';
import { area as areaM2 } from '@turf/turf';
import { JobProgressView } from './job-progress.ts';
import { watchJob, type JobWatch } from './job-watch.ts';
import { ModelFits } from './model-fit.ts';
import { ModelPicker } from './model-picker.ts';
import type { Toaster } from './toasts.ts';
import { formatKm2 } from './units.ts';

export interface JobPanelOptions {
  api: ApiClient;
  toaster: Toaster;
  draw: DrawTool;
  /** The user picked another dataset in the form. */
  onDatasetChange(datasetId: string): void;
  /** A job succeeded: show its results. */
  onResult(job: Job): Promise<void>;
  /** Show the two dates of a comparison side by side. */
  onSwipe(beforeId: string, afterId: string): void;
}

export class JobPanel {
  private datasets: Dataset[] = [];
  private watch: JobWatch | null = null;
  private job: Job | null = null;
  /** True while a job is followed to its end (one at a time in this panel). */
  private watching = false;

  private readonly datasetSelect = el('select', { id: 'job-dataset', on: { change: () => this.datasetChanged() } });
  private readonly datasetLabel = el('span', {}, 'Dataset');
  private readonly beforeSelect = el('select', { id: 'job-before', on: { change: () => this.beforeChanged() } });
  private readonly swap = el('button', { type: 'button', id: 'job-swap', title: 'Swap the two dates', on: { click: () => this.swapDates() } }, '⇅ Swap dates');
  private readonly swipe = el('button', { type: 'button', id: 'job-swipe', title: 'Show the two dates side by side with a slider', on: { click: () => this.swipeDates() } }, '⇆ Swipe the dates');
  private readonly compareRow = el('div', { class: 'button-row compare-buttons', hidden: true }, this.swap, this.swipe);
  private readonly models: ModelPicker;
  private readonly drawRect = el('button', { type: 'button', id: 'draw-rectangle', on: { click: () => this.toggleDraw('rectangle') } }, '▭ Rectangle');
  private readonly drawPoly = el('button', { type: 'button', id: 'draw-polygon', on: { click: () => this.toggleDraw('polygon') } }, '⬠ Polygon');
  private readonly drawClear = el('button', { type: 'button', id: 'draw-clear', on: { click: () => this.o.draw.clear() } }, 'Clear');
  private readonly areaInfo = el('p', { id: 'draw-hint', class: 'muted' });
  private readonly vector = el('input', { type: 'checkbox', id: 'job-vector', checked: true });
  /** options.band_offset; empty: what the file declares (the run says when a scene looks offset). */
  private readonly offset = el('input', { type: 'number', id: 'job-offset', step: 'any', placeholder: 'as the file declares' });
  private readonly run = el('button', { type: 'button', id: 'job-run', class: 'primary', on: { click: () => void this.submit() } }, 'Segment');
  private readonly progress = new JobProgressView(() => void this.cancelJob());
  private readonly message = el('p', { id: 'job-message', class: 'error-text', attrs: { role: 'alert' }, hidden: true });

  constructor(container: HTMLElement, private readonly o: JobPanelOptions) {
    this.models = new ModelPicker(new ModelFits(o.api), () => this.refresh());
    container.append(
      el('label', { class: 'field' }, this.datasetLabel, this.datasetSelect),
      el('label', { class: 'field' }, 'Compare with… (the earlier date)', this.beforeSelect),
      this.compareRow,
      this.models.element,
      el('div', { class: 'button-row draw-buttons', attrs: { role: 'group', 'aria-label': 'Draw an area' } }, this.drawRect, this.drawPoly, this.drawClear),
      this.areaInfo,
      el('label', { class: 'check' }, this.vector, 'Also make polygons (vector tiles, GeoJSON)'),
      el('details', { class: 'more-options' },
        el('summary', {}, 'More options'),
        el('label', { class: 'field' }, 'Add to band values', this.offset),
        el('p', { class: 'muted' }, '−1000 for Sentinel-2 products from 25 January 2022 on, −7272.7 for Landsat Collection 2 Level-2: their values carry an offset the models would misread.')),
      this.run,
      this.progress.element,
      this.progress.notices,
      this.message,
    );
    o.draw.onChange(() => this.refresh());
    this.refresh();
  }

  get datasetId(): string | null {
    return this.datasetSelect.value || null;
  }

  /** The earlier dataset of a comparison, or null for a plain segmentation. */
  get beforeId(): string | null {
    return this.beforeSelect.value || null;
  }

  /** The job shown in the progress bar (for the test hook). */
  get currentJob(): Job | null {
    return this.job;
  }

  setCatalog(datasets: Dataset[], models: Model[]): void {
    const keep = this.datasetSelect.value;
    this.datasets = datasets.filter((d) => d.usable);
    this.models.setModels(models);
    this.datasetSelect.replaceChildren(...this.datasets.map((d) => el('option', { value: d.id }, d.name)));
    if (!this.datasets.length) this.datasetSelect.append(el('option', { value: '', disabled: true, selected: true }, 'No usable dataset: upload one'));
    if (keep && this.datasets.some((d) => d.id === keep)) this.datasetSelect.value = keep;
    this.fillBefore();
    void this.loadModels();
  }

  selectDataset(id: string): void {
    if (!this.datasets.some((d) => d.id === id) || this.datasetSelect.value === id) return;
    this.datasetSelect.value = id;
    this.fillBefore();
    void this.loadModels();
  }

  /** "Compare with…" on a dataset: it becomes the later date, and the user picks the earlier one. */
  compareFrom(id: string): void {
    this.selectDataset(id);
    this.beforeSelect.focus();
  }

  private dataset(id: string | null): Dataset | null {
    return this.datasets.find((d) => d.id === id) ?? null;
  }

  private datasetChanged(): void {
    this.fillBefore();
    void this.loadModels();
    if (this.datasetId) this.o.onDatasetChange(this.datasetId);
  }

  private beforeChanged(): void {
    void this.loadModels();
  }

  /** Every other usable dataset can be the earlier date. */
  private fillBefore(): void {
    const keep = this.beforeSelect.value;
    const others = this.datasets.filter((d) => d.id !== this.datasetId);
    this.beforeSelect.replaceChildren(
      el('option', { value: '' }, 'Nothing: segment one date'),
      ...others.map((d) => el('option', { value: d.id }, d.name)),
    );
    this.beforeSelect.value = others.some((d) => d.id === keep) ? keep : '';
    this.beforeSelect.disabled = others.length === 0;
  }

  private swapDates(): void {
    const before = this.beforeId;
    const after = this.datasetId;
    if (!before || !after) return;
    this.datasetSelect.value = before;
    this.fillBefore();
    this.beforeSelect.value = after;
    this.datasetChanged();
  }

  private swipeDates(): void {
    if (this.beforeId && this.datasetId) this.o.onSwipe(this.beforeId, this.datasetId);
  }

  private loadModels(): Promise<void> {
    return this.models.load(this.dataset(this.datasetId), this.dataset(this.beforeId));
  }

  private toggleDraw(shape: 'rectangle' | 'polygon'): void {
    if (this.o.draw.shape === shape) this.o.draw.stop();
    else this.o.draw.start(shape);
  }

  private refresh(): void {
    const comparing = Boolean(this.beforeId);
    this.datasetLabel.textContent = comparing ? 'Dataset (the later date)' : 'Dataset';
    this.compareRow.hidden = !comparing;
    const draw = this.o.draw;
    this.drawRect.setAttribute('aria-pressed', String(draw.shape === 'rectangle'));
    this.drawPoly.setAttribute('aria-pressed', String(draw.shape === 'polygon'));
    const area = draw.area;
    const whole = comparing ? 'No area drawn: all the two dates share will be compared.' : 'No area drawn: the whole dataset will be segmented.';
    if (draw.shape === 'rectangle') this.areaInfo.textContent = 'Click one corner on the map, then the opposite corner. Esc stops.';
    else if (draw.shape === 'polygon') this.areaInfo.textContent = 'Click to add corners; click the first corner or press Enter to finish.';
    else this.areaInfo.textContent = area ? `Area: ${formatKm2(areaM2(area))}` : whole;
    this.drawClear.disabled = !area;
    this.run.disabled = this.watching || !this.datasetId || !this.models.value;
    const verb = comparing ? 'Compare the dates' : 'Segment';
    const anyway = this.models.allowUnsuitable ? ' anyway' : '';
    this.run.textContent = area ? `${verb} in the area${anyway}` : comparing ? `${verb} where they overlap${anyway}` : `Segment the whole dataset${anyway}`;
  }

  private showMessage(text: string | null): void {
    this.message.hidden = !text;
    this.message.textContent = text ?? '';
  }

  /** The offset typed, as a job option; nothing when the field is empty (the server refuses a number out of range). */
  private bandOffset(): { band_offset?: number } {
    const text = this.offset.value.trim();
    return text !== '' && Number.isFinite(Number(text)) ? { band_offset: Number(text) } : {};
  }

  private async submit(): Promise<void> {
    const dataset = this.datasetId;
    const before = this.beforeId;
    const model = this.models.value;
    if (!dataset || !model) return;
    this.o.draw.stop();
    this.showMessage(null);
    const area = this.o.draw.area;
    this.run.disabled = true;
    try {
      const accepted = await this.o.api.post<JobAccepted>('/jobs', {
        dataset,
        ...(before ? { before } : {}),
        model,
        ...(area ? { area } : {}),
        options: { vector: this.vector.checked, ...(this.models.allowUnsuitable ? { allow_unsuitable: true } : {}), ...this.bandOffset() },
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
        await this.o.onResult(final);
      } else if (final.status === 'failed') {
        this.o.toaster.error(`The job failed: ${final.error ?? 'no reason given'}`);
      }
      this.progress.status = final.status;
    }).catch((err: unknown) => {
      const text = `Lost track of the job: ${describeError(err)}`;
      this.showMessage(text);
      this.o.toaster.error(text);
      this.progress.status = 'error';
    }).finally(() => {
      this.progress.finish();
      this.watching = false;
      this.refresh();
    });
  }

  private show(job: Job): void {
    this.job = job;
    this.progress.show(job);
    this.refresh();
  }

  private async cancelJob(): Promise<void> {
    if (!this.job) return;
    const button = this.progress.cancel;
    button.disabled = true;
    try {
      await this.o.api.delete<Job>(`/jobs/${encodeURIComponent(this.job.id)}`);
    } catch (err) {
      this.o.toaster.error(`The job could not be cancelled: ${describeError(err)}`);
    } finally {
      button.disabled = false;
    }
  }
}
