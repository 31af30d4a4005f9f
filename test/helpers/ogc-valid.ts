/**
 * OGC validity of a polygon by JTS (jsts): stricter than turf.booleanValid, which passes a ring
 * that touches itself (a self-intersection to JTS, GEOS and GDAL).
 */
import { createRequire } from 'node:module';
import type { Position } from 'geojson';

interface JstsGeometry { readonly _jsts: true }
const jsts = createRequire(import.meta.url)('jsts') as {
  io: { GeoJSONReader: new () => { read(g: object): JstsGeometry } };
  operation: { valid: { IsValidOp: new (g: JstsGeometry) => { getValidationError(): { getMessage(): string; getCoordinate(): unknown } | null } } };
};
const reader = new jsts.io.GeoJSONReader();

/** Why a Polygon's rings (closed, GeoJSON) are not a valid OGC polygon; null when they are. */
export function polygonInvalidity(rings: Position[][]): string | null {
  const error = new jsts.operation.valid.IsValidOp(reader.read({ type: 'Polygon', coordinates: rings })).getValidationError();
  return error ? `${error.getMessage()} at ${String(error.getCoordinate())}` : null;
}
