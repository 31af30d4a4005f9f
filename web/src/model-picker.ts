/**
 * The model field of the job form: the models that suit the chosen dataset (or both dates of a
 * comparison) first, unsuitable ones disabled with the server's reason. An unsuitable model runs
 * only after an explicit "run anyway", which the job sends as options.allow_unsuitable.
 */
import type { Dataset, Model } from './api-types.ts';
import { el } from './element.ts';
import { byFit, combinedFit, type ModelFit, type ModelFits } from './model-fit.ts';

export class ModelPicker {
  private fits: ModelFit[] = [];
  private models: Model[] = [];
  private problem: string | null = null;
  private ticket = 0;

  private readonly select = el('select', { id: 'job-model', dataset: { state: 'idle' }, on: { change: () => this.changed() } });
  private readonly info = el('p', { id: 'model-info', class: 'muted model-info' });
  private readonly warning = el('p', { id: 'model-warning', class: 'error-text model-warning', hidden: true });
  private readonly anyway = el('input', { type: 'checkbox', id: 'job-allow-unsuitable', on: { change: () => this.fill() } });
  private readonly unsuitableCount = el('summary', {});
  private readonly unsuitableList = el('ul', { class: 'unsuitable-list' });
  private readonly unsuitable = el('details', { id: 'model-unsuitable', class: 'unsuitable', hidden: true },
    this.unsuitableCount, this.unsuitableList,
    el('label', { class: 'check' }, this.anyway, 'Let me run an unsuitable model anyway'));

  readonly element = el('div', { class: 'model-picker' },
    el('label', { class: 'field' }, 'Model', this.select), this.info, this.warning, this.unsuitable);

  constructor(private readonly fitsFor: ModelFits, private readonly onChange: () => void) {}

  /** The chosen model's id, or '' when none can be chosen. */
  get value(): string {
    return this.select.value;
  }

  /** True when the chosen model is unsuitable and the user said to run it anyway. */
  get allowUnsuitable(): boolean {
    return this.selected?.fit === 'unsuitable' && this.anyway.checked;
  }

  private get selected(): ModelFit | undefined {
    return this.fits.find((f) => f.model.id === this.select.value);
  }

  setModels(models: Model[]): void {
    this.models = models;
  }

  /** Asks the server how each model suits `after` (and `before`, for a comparison), then fills the list. */
  async load(after: Dataset | null, before: Dataset | null): Promise<void> {
    const ticket = ++this.ticket;
    this.select.dataset.state = 'loading';
    const [a, b] = await Promise.all([
      after ? this.fitsFor.forDataset(after, this.models) : null,
      before ? this.fitsFor.forDataset(before, this.models) : null,
    ]);
    // A newer choice of datasets was made while this one was asked about.
    if (ticket !== this.ticket) return;
    const fits = (a?.fits ?? []).map((f) => {
      const other = b?.fits.find((x) => x.model.id === f.model.id);
      return other ? combinedFit(f, other) : f;
    });
    this.fits = byFit(fits);
    this.problem = a?.problem ?? b?.problem ?? null;
    this.fill();
    this.select.dataset.state = 'ready';
  }

  private fill(): void {
    const keep = this.select.value;
    const enabled = (f: ModelFit) => f.fit !== 'unsuitable' || this.anyway.checked;
    const option = (f: ModelFit) => el('option', {
      value: f.model.id,
      disabled: !enabled(f),
      title: f.reason,
      dataset: { fit: f.fit },
    }, f.fit === 'good' ? f.model.id : f.fit === 'resampled' ? `${f.model.id} (resampled)` : `${f.model.id} (unsuitable: ${f.reason})`);
    const fitting = this.fits.filter((f) => f.fit !== 'unsuitable');
    const unsuitable = this.fits.filter((f) => f.fit === 'unsuitable');
    const groups: HTMLElement[] = [];
    if (fitting.length) groups.push(el('optgroup', { label: 'Suit this data' }, ...fitting.map(option)));
    if (unsuitable.length) groups.push(el('optgroup', { label: 'Unsuitable here' }, ...unsuitable.map(option)));
    this.select.replaceChildren(...groups);
    if (!this.fits.length) this.select.append(el('option', { value: '', disabled: true, selected: true }, this.models.length ? 'Pick a dataset first' : 'No model installed'));
    const choosable = this.fits.filter(enabled).map((f) => f.model.id);
    this.select.value = choosable.includes(keep) ? keep : choosable[0] ?? '';

    this.unsuitable.hidden = unsuitable.length === 0;
    this.unsuitableCount.textContent = `${unsuitable.length} model${unsuitable.length === 1 ? ' does' : 's do'} not suit this data`;
    this.unsuitableList.replaceChildren(...unsuitable.map((f) => el('li', { dataset: { model: f.model.id } }, el('strong', {}, f.model.id), `: ${f.reason}`)));
    this.changed();
  }

  private changed(): void {
    const f = this.selected;
    const m = f?.model;
    const about = m ? [m.description ?? '', m.resolution_m ? `Trained at ${m.resolution_m} m.` : '', `Classes: ${(m.classes ?? []).map((c) => c.name).join(', ')}.`] : [];
    const fitText = f && f.fit !== 'unsuitable' && f.reason ? `Fit: ${f.fit}; ${f.reason}.` : '';
    this.info.textContent = m
      ? [...about, fitText].filter(Boolean).join(' ')
      : this.fits.length ? 'No installed model suits this data.' : '';
    if (this.problem) this.info.textContent += ` (The server could not judge the models here, ${this.problem}; judged by band count only.)`;
    this.warning.hidden = f?.fit !== 'unsuitable';
    this.warning.textContent = f?.fit === 'unsuitable' ? `Unsuitable: ${f.reason}. It runs only because you chose to run it anyway; its result may mean nothing.` : '';
    this.onChange();
  }
}
