/**
 * The OpenAPI document at /openapi.json, describing every route with its parameters.
 */
import { OpenAPIHono, z } from '@hono/zod-openapi';

const ErrorBody = z.object({ error: z.string(), detail: z.string() }).openapi('Error');
const Id = z.string().regex(/^[a-z0-9]{6,40}$/).openapi({ description: 'opaque id' });
const json = (description: string) => ({ description, content: { 'application/json': { schema: z.object({}).passthrough() } } });
const errors = {
  400: { description: 'invalid request', content: { 'application/json': { schema: ErrorBody } } },
  404: { description: 'not found', content: { 'application/json': { schema: ErrorBody } } },
  422: { description: 'the file exists but cannot be read', content: { 'application/json': { schema: ErrorBody } } },
};
const tileParams = z.object({ id: Id, z: z.string().openapi({ description: 'zoom 0-24' }), x: z.string(), y: z.string() });
const image = (types: string[]) => ({
  description: 'the tile',
  content: Object.fromEntries(types.map((t) => [t, { schema: z.string().openapi({ format: 'binary' }) }])),
});

export function documentApi(app: OpenAPIHono): void {
  const r = app.openAPIRegistry;
  r.registerPath({ method: 'get', path: '/models', summary: 'Installed models', responses: { 200: json('models') } });
  r.registerPath({ method: 'get', path: '/datasets', summary: 'Datasets in the data folder and uploads', responses: { 200: json('datasets') } });
  r.registerPath({
    method: 'post', path: '/datasets', summary: 'Upload a GeoTIFF (multipart field "file", or a raw image/tiff body)',
    request: { body: { content: { 'multipart/form-data': { schema: z.object({ file: z.string().openapi({ format: 'binary' }) }) } } } },
    responses: { 201: json('the registered dataset'), 400: errors[400], 401: { description: 'API key required' }, 413: { description: 'upload too large' } },
  });
  r.registerPath({ method: 'get', path: '/datasets/{id}', summary: 'Dataset metadata: bounds (EPSG:4326), CRS, bands, statistics, overviews', request: { params: z.object({ id: Id }) }, responses: { 200: json('dataset'), ...errors } });
  r.registerPath({ method: 'delete', path: '/datasets/{id}', summary: 'Remove a dataset and its file', request: { params: z.object({ id: Id }) }, responses: { 204: { description: 'deleted' }, 404: errors[404] } });
  const styleQuery = z.object({
    bands: z.string().optional().openapi({ description: '1 or 3 band numbers, e.g. 4,3,2' }),
    rescale: z.string().optional().openapi({ description: 'min,max (repeat once per band); default: 2-98 % stretch, or 0-255 for 8-bit' }),
  });
  r.registerPath({ method: 'get', path: '/datasets/{id}/tilejson.json', summary: 'TileJSON 3.0.0', request: { params: z.object({ id: Id }), query: styleQuery }, responses: { 200: json('TileJSON'), ...errors } });
  r.registerPath({
    method: 'get', path: '/datasets/{id}/tiles/{z}/{x}/{y}.{format}', summary: 'WebMercatorQuad tile (png, webp, jpg). 204 when the tile is outside the dataset.',
    request: { params: tileParams.extend({ format: z.enum(['png', 'webp', 'jpg']) }), query: styleQuery },
    responses: { 200: image(['image/png', 'image/webp', 'image/jpeg']), 204: { description: 'outside the dataset' }, 304: { description: 'not modified (ETag)' }, ...errors },
  });
  r.registerPath({ method: 'get', path: '/datasets/{id}/point', summary: 'Pixel values at a point', request: { params: z.object({ id: Id }), query: z.object({ lon: z.number(), lat: z.number() }) }, responses: { 200: json('values'), ...errors } });
  r.registerPath({ method: 'get', path: '/results', summary: 'Segmentation results', responses: { 200: json('results') } });
  r.registerPath({ method: 'get', path: '/results/{id}', summary: 'A result: classes, model, bounds, statistics, links', request: { params: z.object({ id: Id }) }, responses: { 200: json('result'), ...errors } });
  r.registerPath({ method: 'delete', path: '/results/{id}', summary: 'Remove a result', request: { params: z.object({ id: Id }) }, responses: { 204: { description: 'deleted' }, 404: errors[404] } });
  const classQuery = z.object({
    classes: z.string().optional().openapi({ description: 'class names or ids to draw, comma-separated' }),
    opacity: z.number().min(0).max(1).optional(),
  });
  r.registerPath({ method: 'get', path: '/results/{id}/tilejson.json', summary: 'TileJSON 3.0.0 of the class mask (with vector_layers when vectors exist)', request: { params: z.object({ id: Id }), query: classQuery }, responses: { 200: json('TileJSON'), ...errors } });
  r.registerPath({
    method: 'get', path: '/results/{id}/tiles/{z}/{x}/{y}.{format}', summary: 'Class-mask tile in the model palette (nearest / mode, never averaged)',
    request: { params: tileParams.extend({ format: z.enum(['png', 'webp']) }), query: classQuery },
    responses: { 200: image(['image/png', 'image/webp']), 204: { description: 'outside the result' }, ...errors },
  });
  r.registerPath({
    method: 'get', path: '/results/{id}/mask.tif', summary: 'The mask COG; supports Range (206/416), ETag, Last-Modified and 304',
    request: { params: z.object({ id: Id }) },
    responses: { 200: image(['image/tiff']), 206: { description: 'partial content' }, 304: { description: 'not modified' }, 416: { description: 'range not satisfiable' }, 404: errors[404] },
  });
  r.registerPath({ method: 'get', path: '/results/{id}/point', summary: 'The class at a point', request: { params: z.object({ id: Id }), query: z.object({ lon: z.number(), lat: z.number() }) }, responses: { 200: json('class'), ...errors } });
  r.registerPath({ method: 'get', path: '/results/{id}/features.geojson', summary: 'The result polygons, EPSG:4326 (class, class_id, area_m2); vectorized once on first request', request: { params: z.object({ id: Id }) }, responses: { 200: { description: 'application/geo+json' }, ...errors } });
  r.registerPath({ method: 'get', path: '/results/{id}/vector/{z}/{x}/{y}.mvt', summary: 'Vector tile of the result polygons, one layer per class; 204 when empty', request: { params: tileParams }, responses: { 200: { description: 'application/vnd.mapbox-vector-tile' }, 204: { description: 'no polygons in this tile' }, ...errors } });
  r.registerPath({ method: 'get', path: '/results/{id}/stats.json', summary: 'Per-class pixel counts, areas and shares', request: { params: z.object({ id: Id }) }, responses: { 200: json('statistics'), ...errors } });

  const JobBody = z.object({
    dataset: Id,
    model: z.string(),
    area: z.object({}).passthrough().optional().openapi({ description: 'GeoJSON Polygon or MultiPolygon in EPSG:4326 (or a Feature of one)' }),
    bbox: z.array(z.number()).length(4).optional().openapi({ description: '[west, south, east, north]; instead of area' }),
    options: z.object({
      tile: z.number().int().optional(), overlap: z.number().int().optional(), batch: z.number().int().optional(),
      device: z.enum(['auto', 'cpu', 'cuda']).optional(), bands: z.array(z.number().int()).optional(), sensor: z.string().optional(),
      vector: z.boolean().optional(), min_area_m2: z.number().optional(), simplify_px: z.number().optional(),
    }).optional(),
  }).openapi('JobRequest');
  r.registerPath({
    method: 'post', path: '/jobs', summary: 'Segment an area of a dataset in the background',
    request: { body: { content: { 'application/json': { schema: JobBody } } } },
    responses: { 202: json('{id, status_url, events_url, job}'), 400: errors[400], 401: { description: 'API key required' } },
  });
  r.registerPath({ method: 'get', path: '/jobs', summary: 'All jobs', responses: { 200: json('jobs') } });
  r.registerPath({ method: 'get', path: '/jobs/{id}', summary: 'A job: status, progress, timings, error, result URLs', request: { params: z.object({ id: Id }) }, responses: { 200: json('job'), 404: errors[404] } });
  r.registerPath({ method: 'get', path: '/jobs/{id}/events', summary: 'Server-Sent Events: "status" and "progress", each with the job as JSON', request: { params: z.object({ id: Id }) }, responses: { 200: { description: 'text/event-stream' }, 404: errors[404] } });
  r.registerPath({ method: 'delete', path: '/jobs/{id}', summary: 'Cancel a job; partial outputs are removed', request: { params: z.object({ id: Id }) }, responses: { 200: json('the cancelled job'), 404: errors[404] } });

  app.doc('/openapi.json', {
    openapi: '3.0.3',
    info: { title: 'satseg', version: '0.1.0', description: 'Segment GeoTIFFs into class masks, vectors and map tiles.' },
  });
}
