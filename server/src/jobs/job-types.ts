/**
 * What a segmentation job is, as stored and as shown.
 */
import type { Geometry, MultiPolygon, Polygon } from 'geojson';

export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export const TERMINAL: ReadonlySet<JobStatus> = new Set(['succeeded', 'failed', 'cancelled']);

export interface JobOptions {
  tile?: number;
  overlap?: number;
  batch?: number;
  device?: 'auto' | 'cpu' | 'cuda';
  bands?: number[];
  sensor?: string;
  vector?: boolean;
  minAreaM2?: number;
  simplifyPx?: number;
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
  datasetId: string;
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
}

export interface JobEvent {
  type: 'status' | 'progress';
  job: JobRecord;
}

export function isArea(g: Geometry | null): g is Polygon | MultiPolygon {
  return g !== null && (g.type === 'Polygon' || g.type === 'MultiPolygon');
}
