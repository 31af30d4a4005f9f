/**
 * A job's progress as the panel shows it: a bar with the percentage and a cancel button, the
 * stage in words, for a change job the steps (segmenting before, segmenting after, comparing,
 * vectorizing) with the current one marked, and the notices the run gave.
 */
import { TERMINAL_STATUSES, type Job } from './api-types.ts';
import { el } from './element.ts';
import { formatDuration } from './units.ts';

/** The stages of a change job, in order, as the server names them. */
const CHANGE_STAGES = ['segmenting before', 'segmenting after', 'comparing', 'vectorizing'];

function capitalise(text: string): string {
  return text ? text[0]!.toUpperCase() + text.slice(1) : text;
}

export function progressText(job: Job): string {
  const p = job.progress;
  switch (job.status) {
    case 'queued': return 'Waiting for a free worker…';
    case 'succeeded': return 'Done: the result is on the map.';
    case 'cancelled': return 'Cancelled.';
    case 'failed': return `Failed: ${job.error ?? 'no reason given'}`;
    default: {
      const parts = [p.stage ? capitalise(p.stage) : 'Running'];
      // A change job counts its three steps as one "tile"; tiles mean nothing there.
      if (job.kind !== 'change' && p.tiles_total) parts.push(`${p.tiles_done} / ${p.tiles_total} tiles`);
      if (p.mpx_per_sec) parts.push(`${p.mpx_per_sec.toFixed(2)} Mpx/s`);
      if (p.eta_seconds !== null && p.eta_seconds > 0) parts.push(`about ${formatDuration(p.eta_seconds)} left`);
      return parts.join(' · ');
    }
  }
}

/** The steps of a change job (vectorizing only when asked for), each todo, active or done. */
export function changeSteps(job: Job): Array<{ stage: string; state: 'todo' | 'active' | 'done' }> {
  const stages = CHANGE_STAGES.filter((s) => s !== 'vectorizing' || job.options?.vector);
  const current = stages.indexOf(job.progress.stage ?? '');
  return stages.map((stage, i) => ({
    stage,
    state: job.status === 'succeeded' || (current >= 0 && i < current) ? 'done' : i === current && !TERMINAL_STATUSES.has(job.status) ? 'active' : 'todo',
  }));
}

export class JobProgressView {
  private readonly bar = el('progress', { id: 'job-bar', max: 100, value: 0 });
  private readonly barText = el('span', { class: 'progress-text' });
  private readonly percent = el('span', { class: 'progress-percent' }, '0 %');
  private readonly steps = el('ol', { id: 'job-steps', class: 'job-steps', hidden: true, attrs: { 'aria-label': 'Steps of the comparison' } });
  readonly cancel: HTMLButtonElement;
  readonly element: HTMLElement;
  // Kept on screen (not only toasted): a warning such as "5x coarser than the model" explains the result.
  readonly notices = el('ul', { id: 'job-notices', class: 'notices', hidden: true });

  constructor(onCancel: () => void) {
    this.cancel = el('button', { type: 'button', id: 'job-cancel', on: { click: onCancel } }, 'Cancel');
    this.element = el('div', { id: 'job-progress', dataset: { status: 'idle' }, hidden: true, attrs: { role: 'status', 'aria-live': 'polite' } },
      el('div', { class: 'progress-row' }, this.bar, this.percent, this.cancel), this.barText, this.steps);
  }

  set status(status: string) {
    this.element.dataset.status = status;
  }

  /** The job has reached its end and the panel is done with it. */
  finish(): void {
    this.element.dataset.done = 'true';
    this.cancel.hidden = true;
  }

  show(job: Job): void {
    const pct = Math.max(0, Math.min(100, Math.round(job.progress.percent ?? 0)));
    const e = this.element;
    e.hidden = false;
    // data-status follows the server, except that "succeeded" waits until the layer is added.
    e.dataset.status = job.status === 'succeeded' ? 'finishing' : job.status;
    e.dataset.done = 'false';
    e.dataset.percent = String(pct);
    e.dataset.job = job.id;
    e.dataset.stage = job.progress.stage ?? '';
    this.bar.value = pct;
    this.percent.textContent = `${pct} %`;
    this.barText.textContent = progressText(job);
    this.steps.hidden = job.kind !== 'change';
    if (job.kind === 'change') {
      this.steps.replaceChildren(...changeSteps(job).map((s) => el('li', { dataset: { stage: s.stage, state: s.state } }, capitalise(s.stage))));
    }
    const notices = job.notices ?? [];
    if (this.notices.dataset.job !== job.id || notices.length !== this.notices.childElementCount) {
      this.notices.replaceChildren(...notices.map((n) => el('li', {}, n)));
      this.notices.dataset.job = job.id;
    }
    this.notices.hidden = notices.length === 0;
    this.cancel.hidden = TERMINAL_STATUSES.has(job.status);
  }
}
