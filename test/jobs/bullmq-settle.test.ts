/**
 * The BullMQ queue (a real redis-server) ends a job once, even when the catalog refuses to write
 * its end: the record the catalog refused is what the queue reads, so the periodic catch-up with
 * BullMQ (reconcile) does not take the job for unfinished and settle it again (for a completed
 * job, that registered its result twice). The refused record is written once the catalog takes it.
 * And progress messages, which anything that reaches Redis can send, are checked and bounded.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { openCatalogDb } from '../../server/src/catalog/catalog-db.ts';
import { DatasetCatalog } from '../../server/src/catalog/dataset-catalog.ts';
import { ResultCatalog } from '../../server/src/catalog/result-catalog.ts';
import { ModelRegistry } from '../../server/src/infer/model-registry.ts';
import { BullMqQueue } from '../../server/src/jobs/bullmq-queue.ts';
import { emptyProgress, JobStore } from '../../server/src/jobs/job-store.ts';
import type { JobEvent, JobRecord } from '../../server/src/jobs/job-types.ts';
import { QUEUE_NAME, QUEUE_PREFIX } from '../../server/src/jobs/remote-protocol.ts';
import { MAX_NOTICES } from '../../server/src/jobs/recorded-queue.ts';
import { redisSkipReason, skipWithoutRedis } from '../helpers/shared-data.ts';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';

describe.skipIf(skipWithoutRedis)(`BullMQ queue: job records from what Redis reports${redisSkipReason ? ` (${redisSkipReason})` : ''}`, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'satseg-settle-'));
  let redis: TestRedis;
  let db: ReturnType<typeof openCatalogDb>;
  let queue: BullMqQueue;
  const closers: Array<() => Promise<unknown>> = [];

  beforeAll(async () => {
    redis = await startRedis();
    // A short wait for the lock, as the server's.
    db = openCatalogDb(dir, 50);
    queue = new BullMqQueue({
      store: new JobStore(db), datasets: new DatasetCatalog(db, dir), results: new ResultCatalog(db, dir), models: new ModelRegistry(path.join(dir, 'models')),
      redisUrl: redis.url, reconcileMs: 100,
    });
    await queue.ready;
  });

  afterAll(async () => {
    for (const close of closers.reverse()) await close();
    await queue?.close();
    db?.close();
    await redis?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const until = async (what: () => boolean | Promise<boolean>, ms = 20_000) => {
    const deadline = Date.now() + ms;
    while (!(await what())) {
      if (Date.now() > deadline) throw new Error('timed out');
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  /** A queued job in the catalog and in BullMQ, taken by hand as satseg worker takes one; its events. */
  const takenJob = async (id: string) => {
    const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    const producer = new Queue(QUEUE_NAME, { connection, prefix: QUEUE_PREFIX });
    const worker = new Worker(QUEUE_NAME, null, { connection, prefix: QUEUE_PREFIX, lockDuration: 60_000 });
    const events: JobEvent[] = [];
    const unsubscribe = queue.subscribe(id, (e) => events.push(e));
    closers.push(async () => { unsubscribe(); await worker.close(); await producer.close(); connection.disconnect(); });
    // Into BullMQ before the catalog, as submit() keeps it from reconcile() meanwhile: a record
    // without its BullMQ job when reconcile() looks (every 100 ms here) is failed as lost, and a
    // loaded CI machine took that long between the two.
    await producer.add('segment', {} as never, { jobId: id });
    const store = new JobStore(db);
    store.insert({
      id, datasetId: 'd', modelId: 'm', area: null, options: {}, status: 'queued', progress: emptyProgress(), createdAt: new Date().toISOString(),
      startedAt: null, finishedAt: null, error: null, resultId: null, notices: [], worker: null,
    } satisfies JobRecord);
    const taken = await worker.getNextJob(`token-${id}`);
    expect(taken?.id).toBe(id);
    // The queue's view (a record the catalog refused to write is in it too), not the stored row.
    await until(async () => (await queue.get(id)).status === 'running');
    return { store, events, taken: taken!, token: `token-${id}` };
  };

  it('ends a job once while the catalog refuses writes: tells its listeners once, serves the ended record, writes it once the lock goes', async () => {
    const { store, events, taken, token } = await takenJob('settleonce0001');
    const id = 'settleonce0001';

    // Another process holds the catalog's write lock while the job fails.
    const other = new Database(path.join(dir, 'satseg.sqlite'));
    other.exec('BEGIN EXCLUSIVE');
    try {
      await taken.moveToFailed(new Error('the worker gave up'), token);
      const ended = () => events.filter((e) => e.type === 'status' && e.job.status === 'failed');
      await until(() => ended().length > 0);
      // Ten catch-ups with BullMQ while the lock holds: none settles the job again.
      await new Promise((r) => setTimeout(r, 1000));
      expect(ended()).toHaveLength(1);
      expect(store.get(id).status).toBe('running');
      expect((await queue.get(id)).status).toBe('failed');
      expect((await queue.get(id)).error).toBe('the worker gave up');
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
    // Written within the retry interval (5 s) once the catalog takes it.
    await until(() => store.get(id).status === 'failed', 10_000);
    expect(store.get(id).error).toBe('the worker gave up');
    expect(events.filter((e) => e.type === 'status' && e.job.status === 'failed')).toHaveLength(1);
  }, 30_000);

  it('ignores progress messages that are not a worker\'s, cuts long notices, and keeps at most MAX_NOTICES notices, each said once', async () => {
    const { store, events, taken } = await takenJob('progresscheck01');
    const progress = { tilesDone: 1, tilesTotal: 4, percent: 25, mpxPerSec: 1.5, etaSeconds: 3, stage: 'segmenting' };
    // Malformed (an object for the worker, no progress): ignored, the record stays whole.
    await taken.updateProgress({ worker: { nested: true }, progress: 'not an object' } as never);
    // NaN speed and ETA arrive as null in JSON: taken as unknown, not a reason to drop the message.
    await taken.updateProgress({ worker: 'w1', progress: { ...progress, mpxPerSec: null, etaSeconds: null }, notice: 'first' } as never);
    await until(() => events.some((e) => e.job.notices.includes('first')));
    const big = 'x'.repeat(5000);
    for (let i = 0; i < MAX_NOTICES + 30; i++) await taken.updateProgress({ worker: 'w1', progress, notice: `${i} ${i % 2 ? big.slice(0, 100) : ''}` });
    await taken.updateProgress({ worker: 'w1', progress, notice: 'first' });
    // A notice over 2,000 characters is cut, its progress kept.
    await taken.updateProgress({ worker: 'w1', progress: { ...progress, tilesDone: 3, percent: 75 }, notice: big + big });
    await until(() => events.some((e) => e.job.progress.tilesDone === 3));
    expect(events.some((e) => typeof e.job.worker !== 'string' && e.job.worker !== null)).toBe(false);
    const job = await queue.get('progresscheck01');
    expect(job.worker).toBe('w1');
    expect(job.notices).toHaveLength(MAX_NOTICES);
    expect(job.notices[0]).toBe('first');
    expect(job.notices[MAX_NOTICES - 1]).toBe(`further notices are left out (a job keeps ${MAX_NOTICES})`);
    expect(Math.max(...job.notices.map((n) => n.length))).toBeLessThanOrEqual(2001);
    expect(job.notices.filter((n) => n === 'first')).toHaveLength(1);
    // And the stored record is whole (a malformed message once made one SQLite refused).
    await until(() => store.get('progresscheck01').progress.stage === 'segmenting');
  }, 30_000);
});
