/**
 * The API's request and response shapes, as zod schemas. The same schema validates a request at
 * the edge and documents it in /openapi.json (through @hono/zod-openapi), so the spec cannot drift
 * from what the server accepts or answers.
 */
import { z } from '@hono/zod-openapi';
import { ID_PATTERN } from '../catalog/catalog-db.ts';
import { decodeCursor } from '../catalog/page.ts';
import { MAX_ZOOM } from '../read/web-mercator.ts';
import { MAX_BAND_OFFSET } from '../segment/band-offset.ts';

export const Id = z.string().regex(ID_PATTERN, 'ids are 6-40 lower-case letters and digits').openapi({ description: 'opaque id', example: 'k3v9q2m7x4zp' });
export const IdParams = z.object({ id: Id });

export const ErrorBody = z.object({
  error: z.string().openapi({ description: 'short label of the status', example: 'bad request' }),
  detail: z.string().openapi({ description: 'what is wrong, in one line', example: 'bands takes 1 or 3 bands (got 2)' }),
}).openapi('Error');

export const Bounds = z.tuple([z.number(), z.number(), z.number(), z.number()]).openapi({ description: '[west, south, east, north] in EPSG:4326' });
const Center = z.tuple([z.number(), z.number(), z.number()]).openapi({ description: '[lon, lat, zoom]' });

/**
 * A number written out in decimal, as a path segment or query value: z.coerce.number would also
 * take '1e1', '0xa', '+13', ' ' and '' (as 0), so a typo would draw another tile or place.
 */
const decimal = (what: string, integer: boolean) => z.string()
  .regex(integer ? /^\d{1,10}$/ : /^-?(\d{1,12}(\.\d{1,17})?|\.\d{1,17})$/, `${what} must be ${integer ? 'a whole number written in digits' : 'a decimal number'}`)
  .transform(Number);

const zoomMessage = `zoom must be an integer from 0 to ${MAX_ZOOM}`;

/** z/x/y of a Web Mercator tile. The file segment ({y}.{format}) is split by the tile routes. */
export const TileParams = z.object({
  id: Id,
  z: decimal('zoom', true).pipe(z.number().max(MAX_ZOOM, zoomMessage)).openapi({ param: { required: true }, type: 'integer', description: `zoom 0-${MAX_ZOOM}` }),
  x: decimal('x', true).openapi({ param: { required: true }, type: 'integer' }),
  y: decimal('y', true).openapi({ param: { required: true }, type: 'integer' }),
});

export const LonLatQuery = z.object({
  lon: decimal('lon', false).pipe(z.number().min(-180).max(180)).openapi({ type: 'number', param: { required: true } }),
  lat: decimal('lat', false).pipe(z.number().min(-90).max(90)).openapi({ type: 'number', param: { required: true } }),
});

/** Imagery tile style: which bands, how to stretch. */
export const ImageryStyleQuery = z.object({
  bands: z.string().regex(/^\s*\d+\s*(,\s*\d+\s*)*$/, 'bands must be 1-based band numbers like 4,3,2').optional()
    .openapi({ description: '1 or 3 band numbers, e.g. 4,3,2 (default: red, green, blue, else the first three)' }),
  rescale: z.union([z.string(), z.array(z.string())]).optional()
    .openapi({ description: 'min,max; once for all bands or once per band (default: 2-98 % stretch, or 0-255 for 8-bit)' }),
});

/** Class-mask tile style: which classes, how opaque. */
export const ClassStyleQuery = z.object({
  classes: z.string().optional().openapi({ description: 'class names or ids to draw, comma-separated (default: all)' }),
  opacity: z.string().regex(/^(0(\.\d+)?|1(\.0+)?)$/, 'opacity must be between 0 and 1').optional().openapi({ description: '0-1 (default 1)' }),
  from: z.string().optional().openapi({ description: 'change results: only transitions from these classes (names or ids)' }),
  to: z.string().optional().openapi({ description: 'change results: only transitions to these classes, e.g. to=water' }),
  unchanged: z.enum(['true', 'false']).optional().openapi({ description: 'change results: also draw unchanged pixels (grey)' }),
});

export const TileJson = z.object({
  tilejson: z.literal('3.0.0'),
  name: z.string(),
  description: z.string().optional(),
  scheme: z.literal('xyz'),
  tiles: z.array(z.string()),
  bounds: Bounds,
  center: Center.nullable(),
  minzoom: z.number().int(),
  maxzoom: z.number().int(),
  legend: z.array(z.object({ id: z.number().int(), name: z.string(), color: z.string() })).optional(),
  vector_layers: z.array(z.object({
    id: z.string(),
    description: z.string().optional(),
    minzoom: z.number().int().optional(),
    maxzoom: z.number().int().optional(),
    fields: z.record(z.string(), z.string()),
  })).optional(),
}).openapi('TileJSON');

const BandStatistics = z.object({
  band: z.number().int(), min: z.number(), max: z.number(), mean: z.number(), std: z.number(), p2: z.number(), p98: z.number(), validPercent: z.number(),
});

export const Dataset = z.object({
  id: Id,
  name: z.string(),
  origin: z.enum(['folder', 'upload', 'url', 'sample']),
  added_at: z.string(),
  usable: z.boolean(),
  error: z.string().optional().openapi({ description: 'why the dataset cannot be used (when usable is false)' }),
  width: z.number().int().optional(),
  height: z.number().int().optional(),
  band_count: z.number().int().optional(),
  dtype: z.string().optional(),
  nodata: z.union([z.number(), z.literal('nan'), z.null()]).optional(),
  mask: z.string().optional(),
  crs: z.object({ epsg: z.number().int().nullable(), name: z.string(), proj4: z.string(), geographic: z.boolean(), non_earth: z.boolean() }).optional(),
  geotransform: z.array(z.number()).optional(),
  resolution_m: z.number().optional(),
  bounds: Bounds.nullable().optional(),
  center: Center.nullable().optional(),
  minzoom: z.number().int().optional(),
  maxzoom: z.number().int().optional(),
  compression: z.string().optional(),
  block_size: z.array(z.number().int()).optional(),
  overviews: z.array(z.object({ width: z.number().int(), height: z.number().int(), resolution: z.number() })).optional(),
  bands: z.array(z.object({
    index: z.number().int(),
    description: z.string().nullable(),
    color_interp: z.string(),
    scale: z.number().optional().openapi({ description: 'the unit conversion the file declares: physical value = value x scale + offset (GDAL metadata)' }),
    offset: z.number().optional(),
    statistics: BandStatistics.nullable(),
  })).optional(),
  statistics_from: z.object({ level: z.number().int(), width: z.number().int(), height: z.number().int() }).nullable().optional(),
  notices: z.array(z.string()).optional().openapi({ description: 'caveats of reading this dataset (e.g. a datum shift done without its grid)' }),
  links: z.record(z.string(), z.string()).optional(),
}).openapi('Dataset');

export const DatasetList = z.object({
  datasets: z.array(Dataset),
  total: z.number().int().openapi({ description: 'datasets in all pages' }),
  next: z.string().nullable().openapi({ description: 'the next page, or null on the last' }),
}).openapi('DatasetList');

export const PointValues = z.object({
  lon: z.number(),
  lat: z.number(),
  pixel: z.object({ x: z.number().int(), y: z.number().int() }),
  valid: z.boolean(),
  values: z.array(z.object({ band: z.number().int(), description: z.string().nullable(), value: z.number() })),
}).openapi('PointValues');

export const ModelClass = z.object({ id: z.number().int(), name: z.string(), color: z.string() });

export const Model = z.object({
  id: z.string(),
  usable: z.boolean(),
  error: z.string().nullable().optional(),
  description: z.string().optional(),
  license: z.string().nullable().optional(),
  classes: z.array(ModelClass).optional(),
  bands: z.array(z.string()).optional(),
  sensors: z.record(z.string(), z.array(z.union([z.number(), z.string()]))).optional(),
  input_channels: z.number().int().optional(),
  resolution_m: z.number().nullable().optional(),
  tile_size: z.number().int().optional(),
  fixed_tile_size: z.boolean().optional(),
  tiles_overlap_percent: z.number().optional(),
  input_alignment: z.number().int().optional(),
  fit: z.object({
    fit: z.enum(['good', 'resampled', 'unsuitable']),
    reason: z.string(),
  }).optional().openapi({ description: 'how well the model suits the dataset given as ?dataset=' }),
}).openapi('Model');

export const ModelList = z.object({ models: z.array(Model) }).openapi('ModelList');

export const Result = z.object({
  id: Id,
  name: z.string(),
  dataset: z.string().nullable(),
  model: z.string(),
  kind: z.enum(['segmentation', 'change']).optional(),
  created_at: z.string(),
  classes: z.array(z.object({ id: z.number().int(), name: z.string(), color: z.string().nullable() })),
  width: z.number().int(),
  height: z.number().int(),
  crs: z.object({ epsg: z.number().int().nullable(), name: z.string() }),
  bounds: Bounds.nullable(),
  center: Center.nullable(),
  minzoom: z.number().int(),
  maxzoom: z.number().int(),
  summary: z.record(z.string(), z.unknown()).nullable(),
  links: z.record(z.string(), z.string()),
  features_ready: z.boolean(),
}).openapi('Result');

export const BrokenResult = z.object({ id: Id, name: z.string(), usable: z.literal(false), error: z.string() });
export const ResultList = z.object({
  results: z.array(z.union([Result, BrokenResult])),
  total: z.number().int().openapi({ description: 'results in all pages' }),
  next: z.string().nullable().openapi({ description: 'the next page, or null on the last' }),
}).openapi('ResultList');

export const ResultPoint = z.object({
  lon: z.number(), lat: z.number(), pixel: z.object({ x: z.number().int(), y: z.number().int() }),
  class_id: z.number().int().nullable(), class: z.string().nullable(), color: z.string().nullable(), nodata: z.boolean(),
}).openapi('ClassAtPoint');

/** How a statistics file measured areas (read/geodesy.ts). */
const AreaMethod = z.enum(['projected', 'geodesic']).openapi({
  description: 'projected: planar in the CRS, where its area scale is within 1 % of 1 over the grid (UTM, state planes, equal-area projections); geodesic: on the ground (the ellipsoid for lon/lat and Mercator, row by row through the projection for the others)',
});

export const ClassStatistics = z.object({
  result: z.string().optional(),
  classes: z.array(z.object({
    id: z.number().int(), name: z.string(), color: z.string().nullable(), pixels: z.number(), area_m2: z.number(), share: z.number(),
  })).nullable(),
  classified_pixels: z.number().optional(),
  classified_area_m2: z.number().optional(),
  nodata_pixels: z.number().optional(),
  area_method: AreaMethod.optional(),
}).passthrough().openapi('ClassStatistics');

/** A change result's stats.json (change/change-statistics.ts): the transition matrix and per-class gains and losses. */
export const ChangeStatisticsDoc = z.object({
  classes: z.array(z.string()),
  model: z.string().nullable(),
  coding: z.string().openapi({ description: 'how the change mask codes its pixels (from * N + to)' }),
  area_method: AreaMethod,
  valid_pixels: z.number(),
  valid_area_m2: z.number(),
  changed_pixels: z.number(),
  changed_area_m2: z.number(),
  changed_share: z.number().openapi({ description: 'share of the valid area that changed, 0..1' }),
  nodata_pixels: z.number(),
  unlisted_pixels: z.number(),
  matrix: z.object({ pixels: z.array(z.array(z.number())), area_m2: z.array(z.array(z.number())) }).openapi({ description: '[from][to]' }),
  transitions: z.array(z.object({
    code: z.number().int(), name: z.string(), from: z.string(), to: z.string(), from_id: z.number().int(), to_id: z.number().int(), pixels: z.number(), area_m2: z.number(),
  })),
  per_class: z.array(z.object({
    id: z.number().int(), name: z.string(), before_pixels: z.number(), after_pixels: z.number(), before_m2: z.number(), after_m2: z.number(),
    gained_pixels: z.number(), lost_pixels: z.number(), gained_m2: z.number(), lost_m2: z.number(), net_m2: z.number(),
  })),
}).passthrough().openapi('ChangeStatistics');

/** The one job body: it validates POST /jobs and documents it. */
export const JobOptions = z.object({
  tile: z.number().int().min(16).max(2048).optional().openapi({ description: 'model tile size in pixels (16-2048; larger tiles need more memory than a job may use)' }),
  overlap: z.number().int().min(0).max(1024).optional(),
  batch: z.number().int().min(1).max(64).optional(),
  device: z.enum(['auto', 'cpu', 'cuda']).optional(),
  bands: z.array(z.number().int().min(1)).min(1).max(64).optional(),
  sensor: z.string().min(1).max(40).optional(),
  band_offset: z.number().min(-MAX_BAND_OFFSET).max(MAX_BAND_OFFSET).optional().openapi({ description: 'added to every chosen band\'s values before the model, in the file\'s own units: -1000 for Sentinel-2 products of processing baseline 04.00 and later (from 25 January 2022), whose values carry +1000. Default: the offsets the file declares (GDAL metadata OFFSET / SCALE), else 0' }),
  vector: z.boolean().optional(),
  min_area_m2: z.number().min(0).optional(),
  simplify_px: z.number().min(0).max(100).optional(),
  tta: z.boolean().optional().openapi({ description: 'test-time augmentation: average the class probabilities over 4 flips (about 4x the inference time)' }),
  allow_unsuitable: z.boolean().optional().openapi({ description: 'run even when the model does not suit the dataset (bands or resolution)' }),
}).strict();

export const JobBody = z.object({
  dataset: Id.openapi({ description: 'the dataset to segment (for a change job: the AFTER scene)' }),
  before: Id.optional().openapi({ description: 'makes it a change job: the BEFORE scene, compared with `dataset`' }),
  model: z.string().min(1).max(100),
  area: z.record(z.string(), z.unknown()).optional().openapi({ description: 'GeoJSON Polygon or MultiPolygon in EPSG:4326, or a Feature or FeatureCollection of them (overlapping parts are joined)' }),
  bbox: z.array(z.number(), { message: 'bbox must be [west, south, east, north] in degrees' }).length(4, 'bbox must be [west, south, east, north] in degrees').optional().openapi({ description: '[west, south, east, north] in EPSG:4326; instead of area', minItems: 4, maxItems: 4 }),
  options: JobOptions.optional(),
}).strict().openapi('JobRequest');

export const Job = z.object({
  id: Id,
  status: z.enum(['queued', 'running', 'succeeded', 'failed', 'cancelled']),
  kind: z.enum(['segment', 'change']),
  dataset: z.string(),
  before: z.string().nullable(),
  model: z.string(),
  area: z.record(z.string(), z.unknown()).nullable(),
  options: JobOptions.openapi({ description: 'the options as sent (defaults are not filled in): the same fields as a request takes' }),
  progress: z.object({
    stage: z.string(),
    tiles_done: z.number(),
    tiles_total: z.number(),
    percent: z.number(),
    mpx_per_sec: z.number(),
    eta_seconds: z.number().nullable(),
  }),
  timings: z.object({
    created_at: z.string(),
    started_at: z.string().nullable(),
    finished_at: z.string().nullable(),
    queued_seconds: z.number().nullable(),
    run_seconds: z.number().nullable(),
  }),
  error: z.string().nullable(),
  notices: z.array(z.string()),
  worker: z.string().nullable().optional(),
  results: z.record(z.string(), z.unknown()).nullable(),
  links: z.record(z.string(), z.string()),
}).openapi('Job');

/** A page of a list (jobs, results, datasets), at most MAX_PAGE a page. */
export const MAX_PAGE = 500;
const pageQuery = (items: string, order: string) => z.object({
  limit: decimal('limit', true).pipe(z.number().min(1, 'limit must be at least 1').max(MAX_PAGE, `limit must be at most ${MAX_PAGE}`)).optional()
    .openapi({ type: 'integer', description: `${items} a page (default 100, at most ${MAX_PAGE})` }),
  offset: decimal('offset', true).optional().openapi({ type: 'integer', description: `${items} to skip, ${order} (default 0); a list that changes between requests may repeat or skip one: follow \`next\` instead` }),
  after: z.string().max(2000, 'after is too long to be a cursor').transform((v, ctx) => {
    const key = decodeCursor(v);
    if (!key) ctx.addIssue({ code: 'custom', message: 'after is not a cursor from this list\'s next link' });
    return key ?? z.NEVER;
  }).optional().openapi({ type: 'string', description: `the page after the one whose \`next\` link gave this cursor, ${order}: ${items} added or removed meanwhile neither repeat nor are skipped` }),
}).refine((q) => !(q.after && q.offset), { message: 'give offset or after, not both', path: ['after'] });
export const JobListQuery = pageQuery('jobs', 'newest first');
export const ResultListQuery = pageQuery('results', 'newest first');
export const DatasetListQuery = pageQuery('datasets', 'by name');
export const JobList = z.object({
  jobs: z.array(Job),
  total: z.number().int().openapi({ description: 'jobs in all pages' }),
  next: z.string().nullable().openapi({ description: 'the next page, or null on the last' }),
}).openapi('JobList');
export const JobAccepted = z.object({ id: Id, status: z.string(), status_url: z.string(), events_url: z.string(), job: Job }).openapi('JobAccepted');
