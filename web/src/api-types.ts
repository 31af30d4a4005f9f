/**
 * The shapes of the satseg API's JSON answers, as far as the viewer reads them.
 */
import type { MultiPolygon, Polygon } from 'geojson';
// Types only from the server: an `import type` vanishes from the bundle, so no server code ships
// to the browser. The set itself is written here, checked against the server's type.
import type { JobStatus, TerminalStatus } from '../../server/src/jobs/job-types.ts';
export type { JobStatus } from '../../server/src/jobs/job-types.ts';

/** Every terminal status exactly once: a status added on the server fails to typecheck here. */
const TERMINAL = { succeeded: true, failed: true, cancelled: true } as const satisfies Record<TerminalStatus, true>;
export const TERMINAL_STATUSES: ReadonlySet<JobStatus> = new Set(Object.keys(TERMINAL) as TerminalStatus[]);

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

/** How well a model suits a dataset, as GET /models?dataset= judges it (bands and resolution). */
export type Fit = 'good' | 'resampled' | 'unsuitable';

export interface Model {
  id: string;
  usable: boolean;
  error?: string | null;
  description?: string;
  classes?: ModelClass[];
  bands?: string[];
  input_channels?: number;
  resolution_m?: number | null;
  /** Present when the models were listed for a dataset. */
  fit?: { fit: Fit; reason: string };
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
  /** 'change' for the comparison of two dates: its classes are the transitions "from → to". */
  kind?: 'segmentation' | 'change';
  dataset: string;
  model: string;
  created_at: string;
  classes: ModelClass[];
  bounds: Bounds | null;
  center: [number, number, number] | null;
  minzoom: number;
  maxzoom: number;
  links: ResultLinks;
  /** For a change result: the class masks compared and the model's classes. */
  summary?: { before_result?: string; after_result?: string; change_classes?: string[]; [key: string]: unknown } | null;
}

/** An entry of GET /results that cannot be opened. */
export interface BrokenResult { id: string; name: string; usable: false; error: string }

export interface ClassStatistics { id: number; name: string; color: string; pixels: number; area_m2: number; share: number }

export interface ResultStatistics {
  classes: ClassStatistics[] | null;
  classified_area_m2?: number;
  nodata_pixels?: number;
}

/** One class of a change result (stats.json of a change job). */
export interface ClassChange {
  id: number;
  name: string;
  before_m2: number;
  after_m2: number;
  gained_m2: number;
  lost_m2: number;
  net_m2: number;
}

export interface TransitionCount {
  code: number;
  from: string;
  to: string;
  from_id: number;
  to_id: number;
  name: string;
  pixels: number;
  area_m2: number;
}

/** stats.json of a change result. */
export interface ChangeStatistics {
  classes: string[];
  valid_area_m2: number;
  changed_area_m2: number;
  /** 0..1 of the valid (compared) area. */
  changed_share: number;
  matrix: { pixels: number[][]; area_m2: number[][] };
  /** The transitions that occur, largest area first. */
  transitions: TransitionCount[];
  per_class: ClassChange[];
}

/** The links of one result inside a job's `results`. */
export interface JobResultLinks { result: string; mask: string; tilejson: string; stats: string; geojson?: string }

export interface Job {
  id: string;
  status: JobStatus;
  /** 'change' compares `before` with `dataset` (the after scene). */
  kind?: 'segment' | 'change';
  dataset: string;
  before?: string | null;
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
  options?: { vector?: boolean; allow_unsuitable?: boolean; [key: string]: unknown };
  results: (JobResultLinks & { before?: JobResultLinks; after?: JobResultLinks; change?: JobResultLinks }) | null;
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

