/**
 * An input we cannot use. The message is one line a user can act on; `code` lets the HTTP layer
 * choose a status and tests check the reason without matching prose.
 */
export type RasterErrorCode =
  | 'not-found'
  | 'not-tiff'
  | 'truncated'
  | 'decode-failed'
  | 'no-georeference'
  | 'gcps-only'
  | 'rotated'
  | 'no-bands'
  | 'unsupported-dtype'
  | 'unsupported-compression'
  | 'unsupported-crs'
  | 'bad-window';

export class RasterError extends Error {
  readonly code: RasterErrorCode;
  constructor(code: RasterErrorCode, message: string) {
    super(message);
    this.name = 'RasterError';
    this.code = code;
  }
}
