/**
 * Every failure becomes JSON `{error, detail}` with the status a client can act on.
 */
import { RasterError } from '../read/raster-error.ts';
import { NotFoundError } from '../catalog/dataset-catalog.ts';
import { TileParamError } from './tiles/imagery-renderer.ts';
import { BandSelectionError } from '../segment/band-selection.ts';
import { ModelMetadataError } from '../infer/model-spec.ts';
import { UnknownModelError } from '../infer/model-registry.ts';
import { TilePlanError } from '../plan/plan-tiles.ts';

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

/** Map a thrown value to a status and body; unexpected errors are 500 and logged by the caller. */
export function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  const msg = err instanceof Error ? err.message.split('\n')[0]! : String(err);
  if (err instanceof NotFoundError || err instanceof UnknownModelError) return new HttpError(404, 'not found', msg);
  if (err instanceof TileParamError || err instanceof BandSelectionError || err instanceof TilePlanError) return new HttpError(400, 'bad request', msg);
  if (err instanceof ModelMetadataError) return new HttpError(422, 'unusable model', msg);
  if (err instanceof RasterError) {
    // The file exists but cannot be read or placed: the request was fine, the data is not.
    return new HttpError(422, 'unreadable raster', msg);
  }
  return new HttpError(500, 'internal error', msg);
}
