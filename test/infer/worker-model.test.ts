/**
 * Closing a model while a forward pass is running. onnxruntime cannot stop a pass, and
 * terminating its thread mid-pass aborts the whole process (a cancelled job once took the server
 * down this way), so close() must let the pass finish and drop only what is still queued.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ModelRegistry } from '../../server/src/infer/model-registry.ts';
import { WorkerModel } from '../../server/src/infer/worker-model.ts';
import { installTestModel, TEST_MODEL_CLASSES } from '../fixtures/test-model.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'satseg-worker-model-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('WorkerModel.close', () => {
  it('finishes the pass in flight, rejects queued passes, and ends the thread', async () => {
    const spec = new ModelRegistry(installTestModel(path.join(tmp, 'models'))).get('test-rgb');
    const model = await WorkerModel.open(spec, { device: 'cpu', threads: 1 });
    const size = 768;
    const batch = () => new Float32Array(4 * 3 * size * size).fill(0.5);
    const first = model.run(batch(), 4, size, size);
    const second = model.run(batch(), 4, size, size);
    const firstSettled = first.then((v) => v, (e: Error) => e);
    const secondSettled = second.then((v) => v, (e: Error) => e);
    // Let the first pass start before closing.
    await new Promise((r) => setTimeout(r, 50));
    await model.close();

    // (Compared by summary: a failing matcher would print millions of floats.)
    const a = await firstSettled;
    expect(a instanceof Float32Array ? a.length : String(a)).toBe(4 * TEST_MODEL_CLASSES.length * size * size);
    const b = await secondSettled;
    expect(b instanceof Error ? b.message : `resolved with ${(b as Float32Array).length} values`).toMatch(/model is closed/);
    await expect(model.run(batch(), 4, size, size)).rejects.toThrow(/model is closed/);
  }, 60_000);

  it('is harmless when nothing is running or when called twice', async () => {
    const spec = new ModelRegistry(installTestModel(path.join(tmp, 'models2'))).get('test-rgb');
    const model = await WorkerModel.open(spec, { device: 'cpu', threads: 1 });
    await Promise.all([model.close(), model.close()]);
    await expect(model.run(new Float32Array(3 * 16 * 16), 1, 16, 16)).rejects.toThrow(/model is closed/);
  });

  it('refuses a batch handed over twice or of the wrong size, instead of waiting forever', async () => {
    const spec = new ModelRegistry(installTestModel(path.join(tmp, 'models3'))).get('test-rgb');
    const model = await WorkerModel.open(spec, { device: 'cpu', threads: 1 });
    try {
      const batch = new Float32Array(3 * 16 * 16).fill(0.5);
      expect((await model.run(batch, 1, 16, 16)).length).toBe(TEST_MODEL_CLASSES.length * 16 * 16);
      await expect(model.run(batch, 1, 16, 16)).rejects.toThrow(/handed to the model already/);
      await expect(model.run(new Float32Array(10), 1, 16, 16)).rejects.toThrow(/needs 768 values, not 10/);
      // The model still answers afterwards.
      expect((await model.run(new Float32Array(3 * 16 * 16), 1, 16, 16)).length).toBe(TEST_MODEL_CLASSES.length * 16 * 16);
    } finally {
      await model.close();
    }
  });

  it('answers the same with a recycled output buffer as with a fresh one', async () => {
    const spec = new ModelRegistry(installTestModel(path.join(tmp, 'models4'))).get('test-rgb');
    const model = await WorkerModel.open(spec, { device: 'cpu', threads: 1 });
    try {
      const batch = (seed: number) => Float32Array.from({ length: 2 * 3 * 32 * 32 }, (_, i) => Math.sin(i * 0.37 + seed));
      const first = await model.run(batch(1), 2, 32, 32);
      const fresh = Array.from(await model.run(batch(2), 2, 32, 32));
      model.recycle(first);
      const again = await model.run(batch(2), 2, 32, 32);
      // The recycled buffer went to the thread (moved: empty here); whether the answer came back
      // in it or in a new one, it is the fresh run's.
      expect(first.byteLength).toBe(0);
      expect(Array.from(again)).toEqual(fresh);
      // A view of part of a buffer is not taken back, nor one buffer twice; the model carries on.
      model.recycle(again.subarray(1));
      const third = await model.run(batch(2), 2, 32, 32);
      model.recycle(third);
      model.recycle(third);
      expect(Array.from(await model.run(batch(2), 2, 32, 32))).toEqual(fresh);
      expect(Array.from(await model.run(batch(2), 2, 32, 32))).toEqual(fresh);
    } finally {
      await model.close();
    }
  });
});

