/**
 * `satseg worker`: run jobs of a `satseg serve --queue` server on this machine. It needs Redis and
 * HTTP to the API server, nothing else; run one per GPU (or several per machine).
 */
import { z } from 'zod';
import pino from 'pino';
import { deviceFlag, intFlag, parseFlags } from './cli-options.ts';
import { ModelRegistry, defaultModelsDir } from '../infer/model-registry.ts';
import { checkRedis, parseRedisUrl, redisLabel } from '../jobs/remote-protocol.ts';
import { RemoteWorker } from '../jobs/remote-worker.ts';
import { UsageError, oneLine } from '../errors.ts';
import { trimTrailing } from '../trim-trailing.ts';

export const WorkerFlags = z.object({
  server: z.string().refine((s) => /^https?:\/\/[^/]/.test(s), 'must be the API server\'s http(s) URL, e.g. http://api:8080').transform((s) => trimTrailing(s, '/')),
  queue: z.string({ error: (issue) => (issue.input === undefined ? 'is required (or SATSEG_QUEUE): the Redis URL the server queues jobs in, e.g. redis://host:6379' : undefined) }).min(1, 'must be a Redis URL, e.g. redis://host:6379'),
  key: z.string().min(1).optional(),
  threads: intFlag(1, 1024).optional(),
  device: deviceFlag.default('auto'),
  models: z.string().optional(),
  name: z.string().regex(/^[\w.:@-]{1,100}$/, 'must be 1-100 letters, digits or . : @ - _').optional(),
  lockMs: intFlag(1000).optional(),
});

export type WorkerOptions = z.input<typeof WorkerFlags>;

const logger = pino({ base: undefined, timestamp: pino.stdTimeFunctions.isoTime });

/** The server must answer, and run its jobs through a queue (else no job ever comes). */
async function checkServer(server: string): Promise<void> {
  let res: Response;
  try {
    res = await fetch(`${server}/workers`, { signal: AbortSignal.timeout(10_000) });
  } catch (err) {
    throw new UsageError(`cannot reach the API server at ${server}: ${oneLine((err as Error).cause ?? err)}`);
  }
  const body = (await res.json().catch(() => null)) as { queue?: string } | null;
  if (!res.ok || !body?.queue) throw new UsageError(`${server} does not look like a satseg server (GET /workers answered HTTP ${res.status})`);
  if (body.queue !== 'bullmq') throw new UsageError(`the server at ${server} runs its jobs itself; start it with --queue redis://... for workers to take them`);
}

export async function runWorker(options: WorkerOptions): Promise<void> {
  const o = parseFlags(WorkerFlags, {
    ...options,
    queue: options.queue ?? (process.env.SATSEG_QUEUE || undefined),
    key: options.key ?? (process.env.SATSEG_API_KEY || undefined),
    lockMs: options.lockMs ?? (process.env.SATSEG_WORKER_LOCK_MS || undefined),
  });
  parseRedisUrl(o.queue);
  await checkServer(o.server);
  await checkRedis(o.queue);
  const models = new ModelRegistry(o.models ?? defaultModelsDir);
  const worker = new RemoteWorker({ server: o.server, redisUrl: o.queue, apiKey: o.key, threads: o.threads, device: o.device, models, name: o.name, lockMs: o.lockMs, logger });
  await worker.start();
  logger.info({ worker: worker.id, server: o.server, queue: redisLabel(o.queue), device: o.device, threads: o.threads ?? 'all cores', models: models.list().filter((m) => m.spec).map((m) => m.id) }, 'satseg worker ready');
  let stopping = false;
  const stop = (signal: string) => {
    // First signal: finish the job in hand. Second: leave it to BullMQ, which hands it to another
    // worker once this one's lock expires.
    if (stopping) {
      logger.warn(`${signal} again: stopping now; the job in hand goes to another worker`);
      // At most a moment to let go of Redis: the job in hand ran on to its end (about 10 s in a
      // probe) while the connections closed.
      void Promise.race([worker.close(true), new Promise((r) => setTimeout(r, 500))]).finally(() => process.exit(1));
      return;
    }
    stopping = true;
    logger.info(`${signal}: finishing the job in hand, then stopping (send it again to stop now)`);
    void worker.close().finally(() => process.exit(0));
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}
