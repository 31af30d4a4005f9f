/**
 * Adding a GeoTIFF: drop it anywhere on the page (or pick it with the button). Shows the upload
 * progress, then the server's verdict; a rejected file is explained in the server's words.
 */
import type { ApiClient } from './api-client.ts';
import { describeError } from './api-client.ts';
import type { Dataset } from './api-types.ts';
import { el } from './element.ts';
import type { Toaster } from './toasts.ts';
import { formatBytes } from './units.ts';

export interface UploadOptions {
  api: ApiClient;
  toaster: Toaster;
  /** Where files may be dropped (the whole page). */
  dropTarget: HTMLElement;
  /** Shown while files are dragged over the page. */
  dropHint: HTMLElement;
  onUploaded(dataset: Dataset): Promise<void>;
}

export class Uploader {
  private readonly input = el('input', { type: 'file', id: 'upload-input', accept: '.tif,.tiff,image/tiff', multiple: true, class: 'visually-hidden' });
  private readonly status = el('div', { id: 'upload-status', dataset: { state: 'idle' }, attrs: { 'aria-live': 'polite' } });
  private queue: Promise<void> = Promise.resolve();

  constructor(container: HTMLElement, private readonly o: UploadOptions) {
    this.input.addEventListener('change', () => {
      this.enqueue([...(this.input.files ?? [])]);
      this.input.value = '';
    });
    container.append(
      el('label', { class: 'button upload-button', htmlFor: 'upload-input' }, '↑ Upload GeoTIFF…'),
      this.input,
      el('p', { class: 'muted' }, 'or drop .tif files anywhere on the page.'),
      this.status,
    );
    this.listenForDrops();
  }

  private listenForDrops(): void {
    const { dropTarget, dropHint } = this.o;
    let depth = 0;
    const hasFiles = (e: DragEvent) => [...(e.dataTransfer?.types ?? [])].includes('Files');
    dropTarget.addEventListener('dragenter', (e) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      depth++;
      dropHint.hidden = false;
    });
    dropTarget.addEventListener('dragover', (e) => {
      if (!hasFiles(e)) return;
      e.preventDefault(); // allows the drop
      if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy';
    });
    dropTarget.addEventListener('dragleave', () => {
      depth = Math.max(0, depth - 1);
      if (!depth) dropHint.hidden = true;
    });
    dropTarget.addEventListener('drop', (e) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      depth = 0;
      dropHint.hidden = true;
      this.enqueue([...(e.dataTransfer?.files ?? [])]);
    });
  }

  /** One upload at a time: a slow link shared by several uploads finishes none of them sooner. */
  enqueue(files: File[]): void {
    for (const file of files) this.queue = this.queue.then(() => this.upload(file));
  }

  private async upload(file: File): Promise<void> {
    const bar = el('progress', { max: 100, value: 0 });
    const text = el('span', { class: 'upload-text' }, `Uploading ${file.name} (${formatBytes(file.size)})…`);
    this.status.replaceChildren(el('div', { class: 'upload-row' }, text), bar);
    this.status.dataset.state = 'uploading';
    this.status.dataset.file = file.name;
    try {
      const dataset = await this.o.api.uploadDataset(file, (sent, total) => {
        bar.value = total ? Math.round((sent / total) * 100) : 0;
      }, () => {
        bar.value = 100;
        text.textContent = `Checking ${file.name}…`;
        this.status.dataset.state = 'checking';
      });
      await this.o.onUploaded(dataset);
      this.status.replaceChildren(el('p', { class: 'ok-text' }, `Added ${dataset.name}.`));
      this.status.dataset.state = 'done';
    } catch (err) {
      const reason = describeError(err);
      this.status.replaceChildren(el('p', { class: 'error-text upload-error', attrs: { role: 'alert' } }, `${file.name} was not added: ${reason}`));
      this.status.dataset.state = 'error';
      this.o.toaster.error(`Upload of ${file.name} failed: ${reason}`);
    }
  }
}
