/**
 * Every failure becomes JSON `{error, detail}` with the status a client can act on. The status of
 * an expected failure comes from errors.ts's table; anything else is a 500 the caller logs.
 */
import { HTTPException } from 'hono/http-exception';
import { errorCode, redactPaths, SatsegError, statusOf, UploadRejected } from '../errors.ts';

export class HttpError extends Error {
  constructor(readonly status: number, readonly error: string, readonly detail: string) {
    super(detail);
    this.name = 'HttpError';
  }
}

export interface ErrorBody {
  error: string;
  detail: string;
}

/** Short names for the statuses we answer with, as the `error` field. */
const LABELS: Record<number, string> = {
  400: 'bad request', 401: 'unauthorized', 403: 'forbidden', 404: 'not found', 409: 'conflict', 413: 'too large',
  415: 'unsupported media type', 416: 'range not satisfiable', 422: 'unprocessable', 429: 'too many requests',
  500: 'internal error', 502: 'bad gateway', 503: 'unavailable', 504: 'gateway timeout', 507: 'insufficient storage',
};

export function httpError(status: number, detail: string): HttpError {
  return new HttpError(status, LABELS[status] ?? 'error', detail);
}

/** Map a thrown value to a status and body; unexpected errors are 500 and logged by the caller. */
export function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return new HttpError(err.status, err.error, redactPaths(err.detail));
  const msg = redactPaths(err instanceof Error ? err.message.split('\n')[0]! : String(err));
  if (err instanceof SatsegError) {
    const status = statusOf(err);
    // A raster that cannot be read says so in its label: the request was fine, the data is not.
    const label = err.kind === 'raster' && status === 422 ? 'unreadable raster'
      : err.kind === 'model-metadata' ? 'unusable model'
        : err.kind === 'upload' && status === 400 ? 'invalid GeoTIFF'
          // A small file can claim too many pixels, bands or blocks: the raster is over a limit, not the upload's size.
          : status === 413 && err instanceof UploadRejected && err.causeKind === 'raster' ? 'raster over a limit'
            : status === 413 && (err.kind === 'limit' || err.kind === 'upload') ? 'upload too large'
            : LABELS[status] ?? 'error';
    return new HttpError(status, label, msg);
  }
  // Hono's own refusals (a body that is not JSON, say) carry their status.
  if (err instanceof HTTPException && err.status < 500) return httpError(err.status, /JSON/i.test(msg) ? `the request body is not valid JSON: ${msg}` : msg);
  return storageError(err, msg) ?? new HttpError(500, 'internal error', msg);
}

/** Whether an error is the server's own storage failing (answered 503 or 507), not the request's fault. */
export function isStorageError(err: unknown): boolean {
  return storageError(err, '') !== null;
}

/**
 * The server's own storage failing (its disk full, its data folder read-only, its catalog locked
 * by another process): statuses a client can act on (507: later, 503: retry), not 500s, each
 * saying that the server, not the request, is at fault.
 */
function storageError(err: unknown, msg: string): HttpError | null {
  const code = errorCode(err);
  if (/^SQLITE_(BUSY|LOCKED)/.test(code)) return httpError(503, `the server's catalog (satseg.sqlite) is locked by another process; try again shortly (${msg})`);
  if (/^SQLITE_FULL/.test(code) || code === 'ENOSPC' || code === 'EDQUOT') return httpError(507, `the server's disk is full; try again once space is freed (${msg})`);
  if (/^SQLITE_READONLY/.test(code) || code === 'EROFS' || code === 'EACCES' || code === 'EPERM') return httpError(503, `the server cannot write its data folder (${msg})`);
  return null;
}
