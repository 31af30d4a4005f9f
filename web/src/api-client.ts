/**
 * The satseg API over fetch: JSON in and out, every failure turned into an ApiError whose
 * message is the server's own explanation (`{error, detail}`), so it can be shown as is.
 */
import type { Dataset } from './api-types.ts';

export class ApiError extends Error {
  constructor(readonly status: number, readonly error: string, detail: string) {
    super(detail);
    this.name = 'ApiError';
  }
}

function explain(status: number, statusText: string, body: unknown): ApiError {
  const b = body as { error?: unknown; detail?: unknown } | null;
  if (b && typeof b.detail === 'string') {
    const hint = status === 401 ? ' Enter the key under Settings (or open the page with ?key=…).' : '';
    return new ApiError(status, typeof b.error === 'string' ? b.error : 'error', b.detail + hint);
  }
  if (status === 413) return new ApiError(status, 'too large', 'the file is larger than the server accepts');
  return new ApiError(status, statusText || 'error', `the server answered ${status}${statusText ? ` ${statusText}` : ''}`);
}

export type UploadProgress = (sentBytes: number, totalBytes: number) => void;

export class ApiClient {
  constructor(private readonly apiKey: () => string | null) {}

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  post<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  delete<T>(path: string): Promise<T> {
    return this.request<T>('DELETE', path);
  }

  private headers(json: boolean): Record<string, string> {
    const h: Record<string, string> = { Accept: 'application/json' };
    if (json) h['Content-Type'] = 'application/json';
    const key = this.apiKey();
    if (key) h.Authorization = `Bearer ${key}`;
    return h;
  }

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(path, { method, headers: this.headers(body !== undefined), body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (err) {
      throw new ApiError(0, 'network', `the server cannot be reached (${(err as Error).message})`);
    }
    return settle<T>(res.status, res.statusText, await res.text());
  }

  /**
   * POST /datasets as multipart. XMLHttpRequest rather than fetch because only it reports upload
   * progress, which matters for files of hundreds of megabytes.
   */
  uploadDataset(file: File, onProgress: UploadProgress, onSent: () => void): Promise<Dataset> {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open('POST', '/datasets');
      for (const [k, v] of Object.entries(this.headers(false))) xhr.setRequestHeader(k, v);
      xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
      xhr.upload.onload = () => onSent();
      xhr.onerror = () => reject(new ApiError(0, 'network', 'the upload was interrupted: the server cannot be reached'));
      xhr.onload = () => {
        try {
          resolve(settle<Dataset>(xhr.status, xhr.statusText, xhr.responseText));
        } catch (err) {
          reject(err);
        }
      };
      const form = new FormData();
      form.append('file', file, file.name);
      xhr.send(form);
    });
  }
}

/** The JSON body of a 2xx answer; any other status throws the server's reason (or the status). */
function settle<T>(status: number, statusText: string, text: string): T {
  let body: unknown = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (status < 200 || status >= 300) throw explain(status, statusText, body);
  return body as T;
}

/** A sentence for any error: the server's detail, or the message of a local failure. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
