/**
 * Every failure satseg expects, in one place. Each error has a kind (its class) and a code; one
 * table maps them to the HTTP status a client can act on, and the CLI prints the message as one
 * line. Messages are for users: they name files by their base name and URLs without their query,
 * never by a path on the server (redactPaths() is the last guard, at the HTTP edge).
 *
 * Stages throw these; only the HTTP layer (serve/http-error.ts) and the CLI turn them into
 * responses and exit codes, so stages never import either.
 */

export type ErrorKind =
  | 'raster' | 'not-found' | 'request' | 'bands' | 'model-metadata' | 'unknown-model' | 'tile-plan'
  | 'area' | 'vectorize' | 'usage' | 'inference' | 'device' | 'cancelled' | 'limit' | 'change' | 'upload' | 'result-upload' | 'storage';

export abstract class SatsegError extends Error {
  abstract readonly kind: ErrorKind;
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

/**
 * kind → status, or "kind:code" → status where one code of a kind differs. Looked up by
 * statusOf(); a kind missing here is a bug and answers 500.
 */
const STATUS: Record<string, number> = {
  // The file exists but cannot be read or placed: the request was fine, the data is not.
  raster: 422,
  'raster:bad-url': 400,
  'raster:no-range': 400,
  'raster:not-found': 400,
  'raster:remote-failed': 502,
  'raster:timeout': 504,
  'raster:source-changed': 409,
  'raster:bad-window': 400,
  'raster:outside': 404,
  'raster:not-on-earth': 400,
  'raster:too-large': 413,
  'not-found': 404,
  storage: 503,
  request: 400,
  'request:timeout': 408,
  'request:in-use': 409,
  'request:read-only': 403,
  bands: 400,
  'model-metadata': 422,
  'unknown-model': 404,
  'tile-plan': 400,
  area: 400,
  vectorize: 400,
  'vectorize:too-large': 413,
  'vectorize:bad-features': 422,
  usage: 400,
  inference: 500,
  device: 400,
  cancelled: 409,
  change: 400,
  upload: 400,
  'upload:too-large': 413,
  // A URL that cannot be read, or not in time, is a bad URL to register: a clear 4xx, as the
  // README says, not a gateway's 502 (the server is not the client's proxy).
  'upload:remote-failed': 400,
  'upload:timeout': 400,
  'result-upload': 422,
  'result-upload:not-expected': 404,
  'result-upload:job-finished': 409,
  'result-upload:lock-lost': 409,
  'result-upload:not-remote': 409,
  'limit:too-large': 413,
  'limit:too-many-jobs': 429,
  'limit:too-many-uploads': 429,
  'limit:too-many-streams': 429,
  'limit:disk-full': 507,
  'limit:busy': 503,
  'limit:job-too-large': 400,
  limit: 400,
};

export function statusOf(err: SatsegError): number {
  return STATUS[`${err.kind}:${err.code}`] ?? STATUS[err.kind] ?? 500;
}

/**
 * Longest message a client is sent: messages quote what was sent (a query value, a URL, class
 * names), and the expression below takes time growing with the square of its input on ';/;/;/…'
 * (a 16 KB query held the event loop 0.13 s; an uploaded mask's 1 MB class list, minutes).
 */
const MESSAGE_CHARS = 2000;

/** An API path with a template ("/jobs/{id}", "/results/{id}/stats.json"), quoted in messages. */
const API_TEMPLATE = /^\/(?:jobs|results|datasets|models|workers)\/\{\w+\}(?:\/|$)/;

/**
 * Absolute paths in a message become their base names (the last guard before a client sees it).
 * An API path with a template ("poll GET /jobs/{id}") stays; a file path is never one, braces or not.
 */
export function redactPaths(message: string): string {
  if (message.length > MESSAGE_CHARS) message = `${message.slice(0, MESSAGE_CHARS)}…`;
  return message.replace(/(?<![\w:/.])\/(?:[^\s/'"`)]+\/)+([^\s/'"`),;]+)/g, (path, base: string) => (API_TEMPLATE.test(path) ? path : base));
}

export type RasterErrorCode =
  | 'not-found' | 'not-tiff' | 'truncated' | 'decode-failed' | 'no-georeference' | 'gcps-only' | 'rotated'
  | 'no-bands' | 'unsupported-dtype' | 'unsupported-compression' | 'unsupported-crs' | 'bad-window'
  | 'bad-url' | 'no-range' | 'source-changed' | 'remote-failed' | 'timeout' | 'too-large' | 'outside' | 'not-on-earth'
  /** The TIFF's structure is unusable (image directories that loop, or too many). */
  | 'corrupt';

/** An input raster we cannot use, with the reason. */
export class RasterError extends SatsegError {
  readonly kind = 'raster';
  declare readonly code: RasterErrorCode;
  constructor(code: RasterErrorCode, message: string) {
    super(code, message);
    this.name = 'RasterError';
  }
}

/** An id that names nothing (dataset, result, job); `why` replaces the plain "not found" (its files are gone). */
export class NotFoundError extends SatsegError {
  readonly kind = 'not-found';
  constructor(what: string, id: string, why?: string) {
    super('not-found', `${what} ${JSON.stringify(id)} ${why ?? 'not found'}`);
    this.name = 'NotFoundError';
  }
}

/** The `code` an error carries (SQLITE_BUSY, ENOSPC, ...), or '' for none. */
export function errorCode(err: unknown): string {
  return String((err as { code?: unknown } | null)?.code ?? '');
}

/** The server's own storage is missing or unusable (its data folder deleted or unmounted): 503. */
export class StorageError extends SatsegError {
  readonly kind = 'storage';
  constructor(message: string) {
    super('unavailable', message);
    this.name = 'StorageError';
  }
}

/** A request parameter that does not make sense (tile styles, query values, bodies). */
export class RequestError extends SatsegError {
  readonly kind = 'request';
  constructor(message: string, code = 'invalid') {
    super(code, message);
    this.name = 'RequestError';
  }
}

/** 409: a dataset or result that unfinished jobs read cannot go until they end. */
export function inUseError(what: 'dataset' | 'result', id: string, jobs: Array<{ id: string; status: string }>): RequestError {
  const one = jobs.length === 1;
  return new RequestError(`${what} ${JSON.stringify(id)} is used by ${one ? 'job' : 'jobs'} ${jobs.map((j) => `${j.id} (${j.status})`).join(', ')}: cancel ${one ? 'it' : 'them'} (a DELETE of the job) or let ${one ? 'it' : 'them'} finish, then delete the ${what}`, 'in-use');
}

/** The scene's bands cannot feed the model as asked. */
export class BandSelectionError extends SatsegError {
  readonly kind = 'bands';
  constructor(message: string) {
    super('bands', message);
    this.name = 'BandSelectionError';
  }
}

/** A model whose ONNX metadata is missing or wrong, naming the key. */
export class ModelMetadataError extends SatsegError {
  readonly kind = 'model-metadata';
  constructor(readonly modelId: string, readonly key: string, detail: string) {
    super('bad-metadata', `model ${modelId}: metadata key "${key}" ${detail}`);
    this.name = 'ModelMetadataError';
  }
}

export class UnknownModelError extends SatsegError {
  readonly kind = 'unknown-model';
  constructor(readonly modelId: string, available: string[]) {
    super('unknown-model', `unknown model "${modelId}"; installed: ${available.length ? available.join(', ') : 'none'}`);
    this.name = 'UnknownModelError';
  }
}

/** Tile size and overlap that cannot tile a scene. */
export class TilePlanError extends SatsegError {
  readonly kind = 'tile-plan';
  constructor(message: string) {
    super('bad-plan', message);
    this.name = 'TilePlanError';
  }
}

/** An area of interest that is not a usable polygon, or does not meet the raster. */
export class AreaError extends SatsegError {
  readonly kind = 'area';
  constructor(message: string, code = 'bad-area') {
    super(code, message);
    this.name = 'AreaError';
  }
}

export type VectorizeErrorCode = 'not-a-mask' | 'unknown-class' | 'bad-option' | 'bad-output' | 'too-many-features' | 'too-large' | 'bad-georeference'
  /** A stored polygons file that is not what vectorize writes (a worker's upload): the data is at fault, not the request. */
  | 'bad-features';

/** A vectorize request we cannot honour (the input or the options are wrong). */
export class VectorizeError extends SatsegError {
  readonly kind = 'vectorize';
  declare readonly code: VectorizeErrorCode;
  constructor(code: VectorizeErrorCode, message: string) {
    super(code, message);
    this.name = 'VectorizeError';
  }
}

/** A command line that cannot run as given. */
export class UsageError extends SatsegError {
  readonly kind = 'usage';
  constructor(message: string) {
    super('usage', message);
    this.name = 'UsageError';
  }
}

/** The model failed while running (a bug or a broken model, not the user's input). */
export class InferenceError extends SatsegError {
  readonly kind = 'inference';
  constructor(message: string) {
    super('inference-failed', message);
    this.name = 'InferenceError';
  }
}

/** The device asked for is not there (CUDA without its execution provider, say). */
export class DeviceError extends SatsegError {
  readonly kind = 'device';
  constructor(message: string) {
    super('no-device', message);
    this.name = 'DeviceError';
  }
}

export class SegmentAbortedError extends SatsegError {
  readonly kind = 'cancelled';
  constructor() {
    super('cancelled', 'segmentation cancelled');
    this.name = 'AbortError';
  }
}

export type LimitCode = 'too-large' | 'too-many-jobs' | 'too-many-uploads' | 'too-many-streams' | 'disk-full' | 'busy' | 'job-too-large';

/** A request over one of the server's limits; the message names the limit and its setting. */
export class LimitError extends SatsegError {
  readonly kind = 'limit';
  declare readonly code: LimitCode;
  constructor(code: LimitCode, message: string) {
    super(code, message);
    this.name = 'LimitError';
  }
}

export type ChangeErrorCode =
  /** The masks (or the area and a mask) share no ground. */
  | 'no-overlap'
  /** The masks come from different models or list different classes. */
  | 'class-mismatch'
  /** More classes than a uint8 transition code can hold. */
  | 'too-many-classes'
  /** An input is not a class mask satseg can compare (bands, type, no class list). */
  | 'not-a-mask'
  | 'bad-option';

/** A comparison we cannot make: the inputs do not fit together, or an option is wrong. */
export class ChangeError extends SatsegError {
  readonly kind = 'change';
  declare readonly code: ChangeErrorCode;
  constructor(code: ChangeErrorCode, message: string) {
    super(code, message);
    this.name = 'ChangeError';
  }
}

/** An uploaded or registered raster that was refused; the code is its cause's (a RasterError's). */
export class UploadRejected extends SatsegError {
  readonly kind = 'upload';
  /** What refused it: the raster's own limits ('raster') say so in the answer's label. */
  readonly causeKind: string | null;
  constructor(message: string, cause: unknown) {
    super(cause instanceof SatsegError ? cause.code : 'rejected', message);
    this.name = 'UploadRejected';
    this.causeKind = cause instanceof SatsegError ? cause.kind : null;
  }
}

export type ResultUploadCode =
  /** No running job produces this result. */
  | 'not-expected'
  /** The job that would produce it has ended (succeeded, failed, cancelled). */
  | 'job-finished'
  /** The uploader no longer holds the job: it was handed to another worker. */
  | 'lock-lost'
  /** This server runs jobs in-process and takes no uploads. */
  | 'not-remote'
  /** The file is not what the job should produce (size, classes, not a COG, not JSON). */
  | 'invalid';

/** A result file uploaded by a remote worker that the server will not take. */
export class ResultUploadError extends SatsegError {
  readonly kind = 'result-upload';
  declare readonly code: ResultUploadCode;
  constructor(code: ResultUploadCode, message: string) {
    super(code, message);
    this.name = 'ResultUploadError';
  }
}

/** Oneline of any thrown value, for CLI messages and logs. */
export function oneLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split('\n')[0]!.trim();
}

/**
 * A job's failure in one line, saying which disk filled up: Node's "ENOSPC: no space left on
 * device, write" names no file (writes go to a descriptor), so the reader could not tell the
 * server's data folder from a worker's temporary folder. `where`: the folder the job writes in.
 */
export function jobFailure(err: unknown, where: string): string {
  const code = errorCode(err);
  return code === 'ENOSPC' || code === 'EDQUOT' ? `the disk is full where the job writes (${where}): ${oneLine(err)}` : oneLine(err);
}
