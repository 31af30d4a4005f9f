/**
 * The shapes of the satseg API's JSON answers, as far as the viewer reads them.
 */
import type { MultiPolygon, Polygon } from 'geojson';
// The server's own definitions: one list of job states for both sides.
import type { JobStatus } from '../../server/src/jobs/job-types.ts';
export type { JobStatus } from '../../server/src/jobs/job-types.ts';
export { TERMINAL as TERMINAL_STATUSES } from '../../server/src/jobs/job-types.ts';

export type Bounds = [west: number, south: number, east: number, north: number];

export interface BandStatistics { min: number; max: number; mean: number; p2: number; p98: number }

export interface DatasetBand {
  index: number;
  description: string | null;
  color_interp: string | null;
  statistics: BandStatistics | null;
}

export interface Dataset {
  id: string;
  name: string;
  usable: boolean;
  /** Why the dataset cannot be read (when usable is false). */
  error?: string;
  width?: number;
  height?: number;
  band_count?: number;
  dtype?: string;
  resolution_m?: number;
  bounds?: Bounds | null;
  center?: [number, number, number] | null;
  minzoom?: number;
  maxzoom?: number;
  bands?: DatasetBand[];
}

export interface ModelClass { id: number; name: string; color: string }

export interface Model {
  id: string;
  usable: boolean;
  error?: string;
  description?: string;
  classes?: ModelClass[];
  bands?: string[];
  input_channels?: number;
  resolution_m?: number | null;
}

export interface ResultLinks {
  tilejson: string;
  tiles: string;
  mask: string;
  stats: string;
  point: string;
  /** Present once the result has been vectorized. */
  geojson?: string;
  vector_tiles?: string;
}

export interface Result {
  id: string;
  name: string;
  dataset: string;
  model: string;
  created_at: string;
  classes: ModelClass[];
  bounds: Bounds | null;
  center: [number, number, number] | null;
  minzoom: number;
  maxzoom: number;
  links: ResultLinks;
}

/** An entry of GET /results that cannot be opened. */
export interface BrokenResult { id: string; name: string; usable: false; error: string }

export interface ClassStatistics { id: number; name: string; color: string; pixels: number; area_m2: number; share: number }

export interface ResultStatistics {
  classes: ClassStatistics[] | null;
  classified_area_m2?: number;
  nodata_pixels?: number;
}


export interface Job {
  id: string;
  status: JobStatus;
  dataset: string;
  model: string;
  area: Polygon | MultiPolygon | null;
  progress: {
    stage: string | null;
    tiles_done: number;
    tiles_total: number;
    percent: number;
    mpx_per_sec: number | null;
    eta_seconds: number | null;
  };
  error: string | null;
  /** What the run said along the way, e.g. that tiles were resampled to the model's resolution. */
  notices?: string[];
  results: { result: string; mask: string; tilejson: string; stats: string; geojson?: string } | null;
}

export interface JobAccepted { id: string; status_url: string; events_url: string; job: Job }

export interface PointValues {
  valid: boolean;
  values: Array<{ band: number; description: string | null; value: number }>;
}

export interface ClassAtPoint { class: string | null; class_id: number | null; color: string | null; nodata: boolean }

export interface TileJson {
  tiles: string[];
  bounds?: Bounds;
  minzoom?: number;
  maxzoom?: number;
  vector_layers?: Array<{ id: string; minzoom?: number; maxzoom?: number }>;
}

