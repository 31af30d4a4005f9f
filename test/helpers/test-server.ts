/**
 * An in-process satseg server over a temporary data folder, for API tests.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { createServerContext, type ServerContext, type ServerOptions } from '../../server/src/serve/server-context.ts';
import { applyConnectionLimits } from '../../server/src/serve/connection-limits.ts';
import { answerUnparsableRequests } from '../../server/src/serve/client-errors.ts';
import { createApp } from '../../server/src/serve/app.ts';
import { segmentScene } from '../../server/src/segment/segment-scene.ts';
import { installTestModel } from '../fixtures/test-model.ts';

export interface TestServer {
  dir: string;
  ctx: ServerContext;
  app: ReturnType<typeof createApp>;
  /** Request a path; returns the Response. */
  get(p: string, init?: RequestInit): Promise<Response>;
  datasetId(name: string): string;
  /**
   * Segments a dataset of the folder with the test model straight into a registered result (no
   * job), as the tests of result endpoints need one; returns its id. `withSummary` stores the run's
   * summary with it, as a job does.
   */
  addResult(datasetName: string, opts?: { name?: string; withSummary?: boolean }): Promise<string>;
  close(): Promise<void>;
}

export function createTestServer(files: Record<string, (file: string) => void>, options: Partial<ServerOptions> = {}): TestServer {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'satseg-server-'));
  const models = installTestModel(path.join(dir, 'models-installed'));
  const dataDir = path.join(dir, 'data');
  fs.mkdirSync(dataDir);
  for (const [name, write] of Object.entries(files)) write(path.join(dataDir, name));
  const ctx = createServerContext({ dataDir, modelsDir: models, ...options });
  const app = createApp(ctx, { onServerError: (err) => console.error(err) });
  const datasetId = (name: string) => {
    const d = ctx.datasets.list().find((x) => x.name === name);
    if (!d) throw new Error(`no dataset ${name}`);
    return d.id;
  };
  return {
    dir,
    ctx,
    app,
    get: (p, init) => Promise.resolve(app.request(p.startsWith('http') ? p : `http://satseg.test${p}`, init)),
    datasetId,
    addResult: async (datasetName, opts = {}) => {
      const dataset = datasetId(datasetName);
      const { id, dir } = ctx.results.allocate();
      const spec = ctx.models.get('test-rgb');
      const summary = await segmentScene({ input: ctx.datasets.location(ctx.datasets.get(dataset)), output: path.join(dir, 'mask.tif'), model: spec, device: 'cpu' });
      ctx.results.register({
        id, datasetId: dataset, modelId: spec.id, name: opts.name ?? 'scene', classes: spec.classNames, colors: spec.classColors,
        summary: opts.withSummary ? summary as unknown as Record<string, unknown> : null,
      });
      return id;
    },
    close: async () => { await ctx.jobs.close(); ctx.db.close(); fs.rmSync(dir, { recursive: true, force: true }); },
  };
}

/** Serves a test server's app over real HTTP on a free local port, for clients outside the process. */
export async function listen(s: TestServer): Promise<{ server: ServerType; base: string }> {
  const server = await new Promise<ServerType>((resolve) => { const srv = serve({ fetch: s.app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(srv)); });
  // As `satseg serve` does.
  answerUnparsableRequests(server);
  applyConnectionLimits(server, s.ctx.limits.values);
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}
