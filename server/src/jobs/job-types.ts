/**
 * What a segmentation job is, as stored and as shown.
 */
import type { Geometry, MultiPolygon, Polygon } from 'geojson';

export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export type TerminalStatus = Extract<JobStatus, 'succeeded' | 'failed' | 'cancelled'>;

export const TERMINAL: ReadonlySet<JobStatus> = new Set<TerminalStatus>(['succeeded', 'failed', 'cancelled']);

export interface JobOptions {
  tile?: number;
  overlap?: number;
  batch?: number;
  device?: 'auto' | 'cpu' | 'cuda';
  bands?: number[];
  sensor?: string;
  /** Added to every chosen band's values before the model (band-offset.ts). */
  bandOffset?: number;
  vector?: boolean;
  minAreaM2?: number;
  simplifyPx?: number;
  /** Average each tile over its four flips (test-time augmentation). */
  tta?: boolean;
  /** Run even when the model does not suit the dataset. */
  allowUnsuitable?: boolean;
}

export interface JobProgress {
  tilesDone: number;
  tilesTotal: number;
  percent: number;
  mpxPerSec: number;
  etaSeconds: number | null;
  /** What the job is doing now (segmenting, vectorizing, ...). */
  stage: string;
}

export interface JobRequest {
  /** The dataset to segment; for a change job, the AFTER scene. */
  datasetId: string;
  /** Set for a change job: the BEFORE scene. */
  beforeId?: string | null;
  modelId: string;
  /** EPSG:4326 polygon(s), already validated and repaired; null = the whole dataset. */
  area: Polygon | MultiPolygon | null;
  options: JobOptions;
}

export interface JobRecord extends JobRequest {
  id: string;
  status: JobStatus;
  progress: JobProgress;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  error: string | null;
  resultId: string | null;
  /** What the run said along the way (resampling, CPU fallback), in order, for the analyst. */
  notices: string[];
  /** The worker running (or that ran) it, when jobs run outside the server. */
  worker?: string | null;
  /** A change job's two class masks, as results of their own. */
  extraResults?: { before?: string; after?: string } | null;
}

export interface JobEvent {
  type: 'status' | 'progress';
  job: JobRecord;
}

export function isArea(g: Geometry | null): g is Polygon | MultiPolygon {
  return g !== null && (g.type === 'Polygon' || g.type === 'MultiPolygon');
}
