/**
 * `satseg serve --queue` while its Redis is gone (a real redis-server, stopped mid-test): a cancel
 * and a submission are 503s naming the queue, not 500s quoting ioredis, and they answer within
 * seconds instead of waiting for a Redis that may never return; the job's record is still served
 * from the catalog. Then Redis comes back on the same port and the cancel goes through.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installTestModel } from '../fixtures/test-model.ts';
import { syntheticScene, writeTestTiff } from '../fixtures/write-tiff.ts';
import { redisSkipReason, skipWithoutRedis } from '../helpers/shared-data.ts';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';
import { startServe, type SatsegProcess } from '../helpers/satseg-processes.ts';

describe.skipIf(skipWithoutRedis)(`satseg serve --queue with Redis down${redisSkipReason ? ` (${redisSkipReason})` : ''}`, () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'satseg-redis-outage-'));
  const models = installTestModel(path.join(tmp, 'models'));
  const dataDir = path.join(tmp, 'data');
  let redis: TestRedis;
  let api: SatsegProcess & { base: string };
  let dataset: string;

  const send = async (method: string, route: string, body?: unknown) => {
    const started = performance.now();
    const res = await fetch(`${api.base}${route}`, { method, ...(body ? { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) } : {}) });
    return { status: res.status, body: await res.json() as Record<string, any>, seconds: (performance.now() - started) / 1000 };
  };

  beforeAll(async () => {
    redis = await startRedis();
    fs.mkdirSync(dataDir);
    writeTestTiff(path.join(dataDir, 'a.tif'), { width: 256, height: 256, bands: syntheticScene(256, 256, 1), geoTransform: [400000, 5, 0, 5000000, 0, -5] });
    api = await startServe(['--data', dataDir, '--queue', redis.url, '--no-samples'], { SATSEG_MODELS: models });
    dataset = ((await (await fetch(`${api.base}/datasets`)).json()).datasets as Array<{ id: string }>)[0]!.id;
  }, 60_000);

  afterAll(async () => {
    await api?.stop();
    await redis?.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('answers 503 naming the queue for a cancel and a submission, serves the record, and cancels once Redis is back', async () => {
    // No worker: the job waits in Redis.
    const submitted = await send('POST', '/jobs', { dataset, model: 'test-rgb' });
    expect(submitted.status, JSON.stringify(submitted.body)).toBe(202);
    const id = submitted.body.id as string;
    const port = redis.port;
    await redis.stop();

    const cancel = await send('DELETE', `/jobs/${id}`);
    expect(cancel.status, JSON.stringify(cancel.body)).toBe(503);
    expect(cancel.body.detail).toMatch(/^the job queue \(Redis at redis:\/\/127\.0\.0\.1:\d+\) cannot take the cancel now: Redis does not answer; try again$/);
    expect(cancel.seconds).toBeLessThan(15);
    const another = await send('POST', '/jobs', { dataset, model: 'test-rgb' });
    expect(another.status, JSON.stringify(another.body)).toBe(503);
    expect(another.body.detail).toMatch(/^the job queue \(Redis at redis:\/\/127\.0\.0\.1:\d+\) cannot take jobs now: Redis does not answer; try again$/);
    const record = await send('GET', `/jobs/${id}`);
    expect(record.status).toBe(200);
    expect(record.body.status).toBe('queued');

    redis = await startRedis(port);
    // ioredis reconnects on its own; the cancel goes through once it has.
    let again = await send('DELETE', `/jobs/${id}`);
    for (let i = 0; again.status === 503 && i < 60; i++) {
      await new Promise((r) => setTimeout(r, 500));
      again = await send('DELETE', `/jobs/${id}`);
    }
    expect(again.status, JSON.stringify(again.body)).toBe(200);
    expect(again.body.status).toBe('cancelled');
  }, 90_000);
});
