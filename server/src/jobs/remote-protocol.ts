/**
 * What the API server (bullmq-queue.ts) and remote workers (remote-worker.ts) agree on: the BullMQ
 * queue and Redis keys, the data a job carries to a worker, the progress a worker reports, its
 * heartbeat, and the header that proves an upload comes from the worker holding the job.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { Redis } from 'ioredis';
import type { JobProgress, JobRequest } from './job-types.ts';
import { UsageError } from '../errors.ts';
import { z } from 'zod';

export const QUEUE_NAME = 'jobs';
/** BullMQ's key prefix, and ours: every key satseg writes in Redis starts with "satseg:". */
export const QUEUE_PREFIX = 'satseg';
/** The server publishes a job id here to cancel it; every worker listens. */
export const CANCEL_CHANNEL = 'satseg:cancel';
/** Set when a job is cancelled: a worker that missed the message finds it when it starts or reports progress. */
export const cancelKey = (jobId: string) => `satseg:cancel:${jobId}`;
export const workerKey = (workerId: string) => `satseg:worker:${workerId}`;
export const WORKER_KEY_PATTERN = 'satseg:worker:*';
/** BullMQ's lock of an active job: it holds the token of the worker running it. */
export const lockKey = (jobId: string) => `${QUEUE_PREFIX}:${QUEUE_NAME}:${jobId}:lock`;
/** Sent with each upload: the worker's lock token, checked against lockKey. */
export const LOCK_HEADER = 'x-satseg-job-lock';
/** A worker refreshes its heartbeat this often; it is listed while the key lives (three beats). */
export const HEARTBEAT_MS = 5000;
export const HEARTBEAT_TTL_MS = 3 * HEARTBEAT_MS;
/** The failure reason of a job that stopped because it was cancelled. */
export const CANCELLED_REASON = 'cancelled';
/** The files a worker uploads into a result, mask first. */
export const UPLOAD_FILES = ['mask.tif', 'stats.json', 'features.geojson'] as const;
export type UploadFile = (typeof UPLOAD_FILES)[number];

/** A scene mask of a change job: a result to write, or one made earlier to reuse. */
export interface SceneRef {
  id: string;
  reuse: boolean;
}

/** What a BullMQ job carries: enough for a worker that sees only Redis and the API. */
export interface RemoteJobData {
  job: JobRequest & { id: string };
  /** The worker loads the model from its own models folder; the digest proves it is the same file. */
  model: { id: string; sha256: string };
  /** A dataset's own URL (remote datasets), or null: read it from the server's /datasets/{id}/source.tif. */
  sources: { after: string | null; before?: string | null };
  /** The datasets' names, for the masks' SOURCE tags. */
  names?: { after: string; before?: string };
  scenes?: { before: SceneRef; after: SceneRef };
}

/** A worker's progress message (BullMQ job progress). Each notice is sent once. */
export interface RemoteProgress {
  worker: string;
  progress: JobProgress;
  notice?: string;
}

/**
 * The same, as the server checks it: whatever reaches Redis arrives as a progress event, so a
 * malformed one (an object for a worker name, no progress) became a record SQLite refused, and
 * notices of any length and number were each written whole (probe: 2,000 notices of 5 KB held
 * the API 78 s).
 */
export const RemoteProgressMessage: z.ZodType<RemoteProgress> = z.object({
  worker: z.string().max(200),
  progress: z.object({
    tilesDone: z.number().int().nonnegative(),
    tilesTotal: z.number().int().nonnegative(),
    percent: z.number().min(0).max(100),
    // Unknown at a run's start (NaN and Infinity arrive as null in JSON): no reason to drop the message.
    mpxPerSec: z.number().nonnegative().finite().catch(0),
    etaSeconds: z.number().nonnegative().finite().nullable().catch(null),
    stage: z.string().max(100),
  }),
  // A longer one is cut, not the whole message dropped (its progress with it).
  notice: z.string().transform((s) => (s.length > 2000 ? `${s.slice(0, 2000)}…` : s)).optional(),
});

export interface WorkerHeartbeat {
  id: string;
  host: string;
  pid: number;
  /** As asked with --device. */
  device: string;
  /** What the last job ran on (cpu, cuda), once one has run. */
  deviceUsed: string | null;
  threads: number | null;
  job: string | null;
  startedAt: string;
  lastSeen: string;
  jobsDone: number;
  jobsFailed: number;
}

/** A Redis URL as given, checked: redis:// or rediss://, with a host. */
export function parseRedisUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--queue must be a Redis URL like redis://host:6379 (got "${text.slice(0, 80)}")`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new UsageError(`--queue must be a redis:// or rediss:// URL (got ${url.protocol}//)`);
  if (!url.hostname) throw new UsageError('--queue must name the Redis host, e.g. redis://localhost:6379');
  return url;
}

/** The URL without its password, for logs and messages. */
export function redisLabel(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}${u.pathname === '/' ? '' : u.pathname}`;
}

/**
 * Why a Redis command failed, in words for an API answer: ioredis gives up on a command it could
 * not send with "Reached the max retries per request limit ... Refer to maxRetriesPerRequest",
 * which says nothing to a client; a closed or refused connection is the same fact.
 */
export function redisFailure(err: unknown): string {
  const e = err as { name?: string; code?: string; message?: string } | null;
  if (e?.name === 'MaxRetriesPerRequestError' || e?.code === 'ECONNREFUSED' || e?.message === 'Connection is closed.') return 'Redis does not answer';
  return e?.message ?? String(err);
}

/**
 * One Redis connection. BullMQ's workers and QueueEvents block on Redis and must wait for it
 * whatever happens (`blocking`: no retry limit, as BullMQ asks); the API's own commands give up
 * after a retry, so a request fails with a reason instead of hanging while Redis is down.
 */
export function redisClient(url: string, kind: 'blocking' | 'command'): Redis {
  return new Redis(url, { maxRetriesPerRequest: kind === 'blocking' ? null : 1 });
}

/** Fails with one line when Redis cannot be reached (start-up checks of serve and worker). */
export async function checkRedis(url: string, timeoutMs = 5000): Promise<void> {
  parseRedisUrl(url);
  const client = new Redis(url, { maxRetriesPerRequest: 0, lazyConnect: true, connectTimeout: timeoutMs, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.ping();
  } catch (err) {
    throw new UsageError(`cannot reach Redis at ${redisLabel(url)}: ${(err as Error).message}`);
  } finally {
    client.disconnect();
  }
}

const digests = new Map<string, { stamp: string; sha256: string }>();

/** SHA-256 of a model file, cached while its size and mtime stay the same. */
export function modelDigest(file: string): string {
  const st = fs.statSync(file);
  const stamp = `${st.size}:${st.mtimeMs}`;
  const hit = digests.get(file);
  if (hit?.stamp === stamp) return hit.sha256;
  const sha256 = crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
  digests.set(file, { stamp, sha256 });
  return sha256;
}
