/**
 * A first run shows something: the committed public-domain sample scene is served read-only, fits
 * spectral-water, and an area job on it finishes in seconds; --no-samples hides it.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createTestServer, type TestServer } from '../helpers/test-server.ts';
import { sampleScenes } from '../../server/src/cli/serve-command.ts';
import { ModelRegistry } from '../../server/src/infer/model-registry.ts';

const servers: TestServer[] = [];
afterAll(async () => { for (const s of servers) await s.close(); });

describe('the sample scene', () => {
  it('is committed, small, and listed as a read-only sample dataset', async () => {
    const samples = sampleScenes();
    expect(samples.map((f) => f.split('/').pop())).toEqual(['naip_2020_sample.tif']);
    const s = createTestServer({}, { samples });
    servers.push(s);
    const { datasets } = await (await s.get('/datasets')).json() as { datasets: any[] };
    expect(datasets).toHaveLength(1);
    expect(datasets[0]).toMatchObject({ name: 'naip_2020_sample.tif', origin: 'sample', usable: true, band_count: 4, resolution_m: 5 });
    const del = await s.get(`/datasets/${datasets[0].id}`, { method: 'DELETE' });
    expect(del.status).toBe(403);
    expect((await del.json() as { detail: string }).detail).toMatch(/read-only.*--no-samples/);
  });

  it('runs spectral-water on an area of it within seconds', async () => {
    const s = createTestServer({}, { samples: sampleScenes(), modelsDir: new ModelRegistry().dir });
    servers.push(s);
    const { datasets } = await (await s.get('/datasets')).json() as { datasets: any[] };
    const d = datasets[0];
    const models = (await (await s.get(`/models?dataset=${d.id}`)).json() as { models: any[] }).models;
    expect(models.find((m) => m.id === 'spectral-water').fit.fit).not.toBe('unsuitable');
    const [w, so, e, n] = d.bounds;
    const bbox = [w + 0.3 * (e - w), so + 0.3 * (n - so), w + 0.6 * (e - w), so + 0.6 * (n - so)];
    const started = Date.now();
    const post = await s.get('/jobs', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ dataset: d.id, model: 'spectral-water', bbox }) });
    expect(post.status).toBe(202);
    const { id } = await post.json() as { id: string };
    let job: any;
    do {
      await new Promise((r) => setTimeout(r, 100));
      job = await (await s.get(`/jobs/${id}`)).json();
    } while (!['succeeded', 'failed'].includes(job.status));
    expect(job.status).toBe('succeeded');
    expect(Date.now() - started).toBeLessThan(60_000);
    const stats = await (await s.get(job.results.stats.replace('http://satseg.test', ''))).json() as { classes: Array<{ name: string; share: number }> };
    expect(stats.classes.find((c) => c.name === 'water')!.share).toBeGreaterThan(0.01);
  });

  it('is hidden with --no-samples', async () => {
    const s = createTestServer({}, { samples: [] });
    servers.push(s);
    const { datasets } = await (await s.get('/datasets')).json() as { datasets: unknown[] };
    expect(datasets).toEqual([]);
  });
});
